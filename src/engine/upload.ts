import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { HostError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { scriptComment, sharedDirGuard } from '../ssh/put-file.js';
import { shJoin, shq } from '../ssh/quote.js';
import type { StreamSource } from '../ssh/stream-source.js';
import { UPLOAD_BUDGET, UPLOAD_CHUNK, type ByteBudget } from './byte-budget.js';
import { recordFilesScript, type RecordFields } from './host-record.js';
import { octal } from './kinds/kind.js';

/** How the bytes travel: compressed once on the controller, decompressed on the host as they arrive. */
export type TransferCodec = 'zstd' | 'gzip' | 'none';

/** The command that turns one file's transfer bytes back into the file's bytes on the host (none: the bytes are the file's). */
const DECODERS: Record<TransferCodec, string | undefined> = { zstd: 'zstd -dcq', gzip: 'gzip -dc', none: undefined };

export interface Upload {
  /** Absolute path on the host. */
  path: string;
  mode: number;
  owner: string;
  group: string;
  /** The file's own size and sha256 (what the host ends up with). */
  size: number;
  sha256: string;
  /** The local file that is sent, already encoded with `codec`, and its size. */
  transfer: { codec: TransferCodec; file: string; bytes: number };
  /** Extra fields for the host's record (component, version, ...). */
  record: RecordFields;
}

/** Stage folders a run left behind (killed mid-transfer) are removed once they are this old. */
const STALE_STAGE_MINUTES = 60;
const STAGE_PREFIX = '.kubestrap-upload-';

/**
 * Installs local files on a host in one command: their encoded bytes, one after the other, stream
 * into the command's stdin through two reused buffers (never whole in memory, bounded across hosts
 * by the shared budget). The host cuts the stream at each file's length (see `cut`), decodes each
 * file into a stage folder inside its target folder, checks every size, gives owners and modes,
 * then renames the files over their targets (readers see an old file or a whole new one) and
 * records them in kubestrap's record on the host with the size and mtime they have there.
 *
 * Nothing is renamed unless every file arrived whole, and a failure removes the stage folders. One
 * command for all of a host's files means no per-file session, shell start-up or record rewrite:
 * the host's work is the decoding and writing, and the link carries only the files.
 *
 * Integrity in transit comes from SSH (every packet is authenticated) and the codec's own check
 * (gzip CRC32, zstd checksum); a short stream fails the size check. The sources were verified
 * against their checksums before they got this far.
 *
 * Cost: 1 exec round trip, carrying the sum of `transfer.bytes`. apply runs installScript as one
 * step of a batch instead (see apply.ts), so the files share their command with the scripts around.
 */
export async function uploadFiles(host: RemoteHost, uploads: readonly Upload[], budget: ByteBudget = UPLOAD_BUDGET): Promise<void> {
  if (uploads.length === 0) return;
  const res = await host.runWithInput(installScript(uploads), () => uploadSource(uploads, budget), { timeoutMs: uploadTimeoutMs(uploads) });
  if (res.code !== 0) throw uploadFailure(host.name, uploads, res.code, res.stderr || res.stdout);
}

/** What the host reads on its stdin for installScript(uploads): their encoded bytes, one file after the other. */
export function uploadSource(uploads: readonly Upload[], budget: ByteBudget = UPLOAD_BUDGET): StreamSource {
  return filesSource(uploads.map((u) => u.transfer.file), budget);
}

/** installScript failed with this output: the error to report, about the file it names (else the first). */
export function uploadFailure(host: string, uploads: readonly Upload[], exitCode: number, output: string): HostError {
  // The size check names its file as `PATH: received ...`.
  const failed = uploads.find((u) => output.includes(`${u.path}: `)) ?? uploads[0]!;
  const what = uploads.length === 1 ? failed.path : `${uploads.length} files (${uploads.map((u) => posix.basename(u.path)).join(', ')})`;
  return new HostError(host, `installing ${what} failed`, {
    resource: `file:${failed.path}`,
    command: 'decode each file into a stage folder, check sizes, chown, chmod, mv',
    exitCode,
    stderrTail: output.trim().split('\n').slice(-10).join('\n'),
  }, hintFor(failed, output));
}

/**
 * The files' bytes, one after the other (one file open at a time), read into two buffers in turn:
 * one is read into while the channel takes the other. A buffer is reused only once the channel has
 * taken what it held, and holds budget from its read until then.
 */
function filesSource(files: readonly string[], budget: ByteBudget): StreamSource {
  return async (write) => {
    const buffers = [Buffer.allocUnsafe(UPLOAD_CHUNK), Buffer.allocUnsafe(UPLOAD_CHUNK)];
    const taken: Array<Promise<void> | undefined> = [undefined, undefined];
    let turn = 0;
    for (const file of files) {
      const handle = await open(file, 'r');
      try {
        for (;;) {
          const i = turn;
          turn = 1 - turn;
          await taken[i];
          const held = await budget.acquire(UPLOAD_CHUNK);
          const { bytesRead } = await handle.read(buffers[i]!, 0, UPLOAD_CHUNK, null).catch((err: unknown) => {
            budget.release(held);
            throw err;
          });
          if (bytesRead === 0) {
            budget.release(held);
            break;
          }
          const sent = write(buffers[i]!.subarray(0, bytesRead)).finally(() => budget.release(held));
          // Awaited before the buffer's next use; until then a failure must not count as unhandled.
          sent.catch(() => undefined);
          taken[i] = sent;
        }
      } finally {
        await handle.close();
      }
    }
    await Promise.all(taken);
  };
}

/**
 * Copies exactly `bytes` from stdin and reads no further, so the next file starts where this one
 * ends: GNU dd reads whole blocks (fullblock) until the count in bytes, and asks for only the rest
 * in its last read. In blocks of 128 KiB, not head's 8 KiB: a sixteenth of the system calls.
 */
function cut(bytes: number): string {
  return `dd bs=128K iflag=fullblock,count_bytes count=${bytes} status=none`;
}

/** Ten minutes plus a second per MiB sent: generous for slow links, still a bound on a hung transfer. */
export function uploadTimeoutMs(uploads: readonly Upload[]): number {
  const bytes = uploads.reduce((n, u) => n + u.transfer.bytes, 0);
  return 600_000 + Math.ceil(bytes / (1024 * 1024)) * 1000;
}

function hintFor(upload: Upload, stderr: string): string {
  const dir = posix.dirname(upload.path);
  if (/may be changed by users other than root/.test(stderr)) return `make ${dir} root's alone: chown root ${dir} && chmod go-w ${dir}`;
  if (/not found/.test(stderr) && upload.transfer.codec !== 'none') {
    return `the host lacks ${upload.transfer.codec}: install it, or set UPLOAD_COMPRESSION=gzip (or none) for this host`;
  }
  if (/No space left/i.test(stderr)) return `free space in ${dir} on the host`;
  if (/cannot overwrite directory|Is a directory/i.test(stderr)) return `${upload.path} is a directory on the host: move it away, then re-run`;
  return 'check the host\'s disk and the path, then re-run';
}

/**
 * The host's side of uploadFiles. Each target folder gets a fresh stage folder inside it, so the
 * final rename stays on one filesystem, and is checked first: the stage is handled by name, so, as
 * putFile's install does, the folder must be one no one but root can change (see sharedDirGuard).
 */
export function installScript(uploads: readonly Upload[]): string {
  const dirs = [...new Set(uploads.map((u) => posix.dirname(u.path)))];
  const stageVar = (dir: string) => `ks_stage${dirs.indexOf(dir)}`;
  const stages = dirs.map((d) => `"$${stageVar(d)}"`).join(' ');
  const staged = (us: readonly Upload[]) => us.map((u) => `"$${stageVar(posix.dirname(u.path))}"/${shq(posix.basename(u.path))}`).join(' ');
  const decode = (u: Upload) => [cut(u.transfer.bytes), DECODERS[u.transfer.codec]].filter(Boolean).join(' | ');
  return [
    `# kubestrap: install ${uploads.map((u) => scriptComment(u.path)).join(' ')}`,
    'set -e',
    'umask 022',
    ...dirs.flatMap((dir) => [
      `ks_dir=${shq(dir)}`,
      '[ -d "$ks_dir" ] || mkdir -p -- "$ks_dir"',
      sharedDirGuard('"$ks_dir"'),
      `find "$ks_dir" -maxdepth 1 -name '${STAGE_PREFIX}*' -mmin +${STALE_STAGE_MINUTES} -exec rm -rf -- {} + 2>/dev/null || :`,
      `${stageVar(dir)}=$(mktemp -d "$ks_dir"/${STAGE_PREFIX}XXXXXX)`,
    ]),
    `trap 'rm -rf -- ${stages}' EXIT`,
    ...uploads.map((u) => `${decode(u)} > ${staged([u])}`),
    `set -- $(stat -c %s -- ${staged(uploads)})`,
    ...uploads.map((u) => `[ "$1" = ${u.size} ] || { echo ${shq(`${u.path}: received`)} "$1" ${shq(`of ${u.size} bytes: the transfer was cut short`)} >&2; exit 1; }; shift`),
    ...groupBy(uploads, (u) => `${u.owner}:${u.group}`).map(([spec, us]) => `${shJoin(['chown', '--', spec])} ${staged(us)}`),
    ...groupBy(uploads, (u) => octal(u.mode)).map(([mode, us]) => `chmod -- ${mode} ${staged(us)}`),
    // -t: each file keeps its name; a target that is a folder is refused, not written into.
    ...groupBy(uploads, (u) => posix.dirname(u.path)).map(([dir, us]) => `mv -f -t ${shq(dir)} -- ${staged(us)}`),
    `rmdir -- ${stages}`,
    'trap - EXIT',
    recordFilesScript(uploads.map((u) => ({ path: u.path, fields: { sha256: u.sha256, ...u.record } }))),
  ].join('\n');
}

/** The uploads by `key`, in the order each key first appears. */
function groupBy(uploads: readonly Upload[], key: (u: Upload) => string): Array<[string, Upload[]]> {
  const groups = new Map<string, Upload[]>();
  for (const u of uploads) groups.set(key(u), [...(groups.get(key(u)) ?? []), u]);
  return [...groups];
}
