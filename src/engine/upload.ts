import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { HostError } from '../errors.js';
import type { ExecResult } from '../ssh/exec.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { scriptComment, sharedDirGuard } from '../ssh/put-file.js';
import { shJoin, shq } from '../ssh/quote.js';
import type { StreamSource } from '../ssh/stream-source.js';
import { UPLOAD_BUDGET, UPLOAD_CHUNK, type ByteBudget } from './byte-budget.js';
import { recordFilesScript, type RecordFields } from './host-record.js';
import { TAR_BLOCK, tarEnd, tarFileHeader, tarPadding } from './tar-header.js';
import { DECODERS, inlineFrame, type TransferCodec } from './transfer-codec.js';

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

/** tar's record on the host: 256 blocks of 512 bytes, so it reads and writes 128 KiB at a time, not 10 KiB. */
const TAR_RECORD_BLOCKS = 256;
const TAR_RECORD = TAR_RECORD_BLOCKS * TAR_BLOCK;

/** The host's side of an upload and the bytes it reads, made together: they share the stage folders' names. */
export interface PreparedUpload {
  uploads: readonly Upload[];
  /** Installs the files from its stdin (see installScript). */
  script: string;
  /** The stdin installScript reads. */
  source(budget?: ByteBudget): StreamSource;
}

/** A local file that no longer has the length it had when kubestrap chose it: nothing of its upload is installed. */
export class ChangedSourceError extends Error {
  constructor(
    readonly upload: Upload,
    readonly read: number,
    readonly expected: number,
  ) {
    super(`${upload.path}: the local file ${upload.transfer.file} gave ${read} of ${expected} bytes: it changed while kubestrap was sending it`);
  }
}

/**
 * Installs local files on a host in one command. The host unpacks one tar archive from the
 * command's stdin into a stage folder inside each target folder, checks every size, then renames
 * the files over their targets (readers see an old file or a whole new one) and records them in
 * kubestrap's record on the host with the size and mtime they have there.
 *
 * The archive is never made: its headers are written here, and each file's bytes (its encoding,
 * made once) stream between them through two reused buffers, never whole in memory and bounded
 * across hosts by the shared budget. So a host's work is one tar (and one decoder) for all its
 * files, whatever their number: one process costs more than writing a megabyte on a small VM.
 *
 * Nothing is renamed unless every file arrived whole, and a failure removes the stage folders.
 * Integrity in transit comes from SSH (every packet is authenticated) and the codec's own check
 * (gzip CRC32, zstd checksum); a short stream fails tar and the size check. The sources were
 * verified against their checksums before they got this far.
 *
 * Cost: 1 exec round trip, carrying the sum of `transfer.bytes` and a few KiB of headers. apply
 * runs the script as one step of a batch instead (see apply.ts), so the files share their command
 * with the scripts around. uploadFiles sends each codec's files in a command of their own.
 */
export async function uploadFiles(host: RemoteHost, uploads: readonly Upload[], budget: ByteBudget = UPLOAD_BUDGET): Promise<void> {
  for (const [, group] of groupBy(uploads, (u) => u.transfer.codec)) {
    const upload = prepareUpload(group);
    const outcome = await runWithUpload(host, upload.script, upload, { timeoutMs: uploadTimeoutMs(group) }, budget);
    if (outcome instanceof ChangedSourceError) throw changedSourceFailure(host.name, outcome);
    if (outcome.code !== 0) throw uploadFailure(host.name, group, outcome.code, outcome.stderr || outcome.stdout);
  }
}

/**
 * Runs `script` (which holds the upload's script) with the upload's stream on its stdin. A local
 * file that changed under the stream is the outcome, whatever the host made of the stream cut short.
 */
export async function runWithUpload(host: RemoteHost, script: string, upload: PreparedUpload, opts: { timeoutMs?: number }, budget: ByteBudget = UPLOAD_BUDGET): Promise<ExecResult | ChangedSourceError> {
  let changed: ChangedSourceError | undefined;
  const source = upload.source(budget);
  const watched: StreamSource = (write) =>
    source(write).catch((err: unknown) => {
      if (err instanceof ChangedSourceError) changed = err;
      throw err;
    });
  try {
    const result = await host.runWithInput(script, () => watched, opts);
    return changed ?? result;
  } catch (err) {
    if (changed) return changed;
    throw err;
  }
}

/** The script and stream for files that share a codec (one decoder reads the whole stream). */
export function prepareUpload(uploads: readonly Upload[]): PreparedUpload {
  const codecs = new Set(uploads.map((u) => u.transfer.codec));
  if (codecs.size !== 1) throw new Error(`one upload stream carries one codec, not ${[...codecs].join(', ') || 'none at all'}`);
  const dirs = [...new Set(uploads.map((u) => posix.dirname(u.path)))];
  const stages = new Map(dirs.map((dir) => [dir, posix.join(dir, `${STAGE_PREFIX}${randomBytes(6).toString('hex')}`)]));
  const staged = (u: Upload) => posix.join(stages.get(posix.dirname(u.path))!, posix.basename(u.path));
  return {
    uploads,
    script: installScript(uploads, stages, staged),
    source: (budget = UPLOAD_BUDGET) => archiveSource(uploads, staged, budget),
  };
}

/** The error for an upload whose local file changed while it was sent. */
export function changedSourceFailure(host: string, e: ChangedSourceError): HostError {
  return new HostError(host, `installing ${e.upload.path} failed: ${e.message}`, { resource: `file:${e.upload.path}` }, 're-run: kubestrap checks the local copy again and sends it whole');
}

/** installScript failed with this output: the error to report, about the file it names (else the first). */
export function uploadFailure(host: string, uploads: readonly Upload[], exitCode: number, output: string): HostError {
  // The size check names a file as `PATH: received ...`, tar names it inside its stage folder.
  const failed = uploads.find((u) => output.includes(`${u.path}: `) || stagedName(u).test(output)) ?? uploads[0]!;
  const what = uploads.length === 1 ? failed.path : `${uploads.length} files (${uploads.map((u) => posix.basename(u.path)).join(', ')})`;
  return new HostError(host, `installing ${what} failed`, {
    resource: `file:${failed.path}`,
    command: 'unpack the files into a stage folder, check sizes, chown, mv',
    exitCode,
    stderrTail: output.trim().split('\n').slice(-10).join('\n'),
  }, hintFor(failed, output));
}

function stagedName(u: Upload): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escape(posix.dirname(u.path))}/${escape(STAGE_PREFIX)}[0-9a-f]+/${escape(posix.basename(u.path))}: `);
}

/**
 * The archive: each file's header, then its bytes, then the padding to a whole block, which goes
 * with the next header as one small piece; the end blocks and the zeros to a whole record last.
 * Small pieces go in the codec's own framing (see inlineFrame); each file is its encoding as is.
 */
function archiveSource(uploads: readonly Upload[], staged: (u: Upload) => string, budget: ByteBudget): StreamSource {
  const codec = uploads[0]!.transfer.codec;
  const mtime = Math.floor(Date.now() / 1000);
  return async (write) => {
    const sendFile = fileSender(write, budget);
    const send = (piece: Buffer) => write(inlineFrame(codec, piece));
    let length = 0;
    let padding: Buffer = Buffer.alloc(0);
    for (const u of uploads) {
      const header = tarFileHeader({ path: staged(u), size: u.size, mode: u.mode, mtime });
      await send(Buffer.concat([padding, header]));
      // Sent as is, the file's bytes are the member's: they must be as many as its header says.
      await sendFile(u, codec === 'none' ? u.size : u.transfer.bytes);
      length += padding.length + header.length + u.size;
      padding = tarPadding(u.size);
    }
    await sendFile.done();
    length += padding.length;
    await send(Buffer.concat([padding, tarEnd(length, TAR_RECORD)]));
  };
}

/**
 * Sends files' bytes, each exactly `expected` of them, through two buffers that serve every file
 * in turn: one is read into while the channel takes the other. A buffer is reused only once the
 * channel has taken what it held, and holds budget from its read until then.
 */
function fileSender(write: (chunk: Buffer) => Promise<void>, budget: ByteBudget): ((u: Upload, expected: number) => Promise<void>) & { done(): Promise<void> } {
  const buffers = [Buffer.allocUnsafe(UPLOAD_CHUNK), Buffer.allocUnsafe(UPLOAD_CHUNK)];
  const taken: Array<Promise<void> | undefined> = [undefined, undefined];
  let turn = 0;
  const sendFile = async (u: Upload, expected: number): Promise<void> => {
    const handle = await open(u.transfer.file, 'r');
    try {
      for (let read = 0; ; ) {
        const i = turn;
        turn = 1 - turn;
        await taken[i];
        const held = await budget.acquire(UPLOAD_CHUNK);
        // One byte past the end tells a longer file from a whole one.
        const { bytesRead } = await handle.read(buffers[i]!, 0, Math.min(UPLOAD_CHUNK, expected - read + 1), null).catch((err: unknown) => {
          budget.release(held);
          throw err;
        });
        read += bytesRead;
        if (bytesRead === 0 || read > expected) {
          budget.release(held);
          if (read !== expected) throw new ChangedSourceError(u, read, expected);
          return;
        }
        const sent = write(buffers[i]!.subarray(0, bytesRead)).finally(() => budget.release(held));
        // Awaited before the buffer's next use; until then a failure must not count as unhandled.
        sent.catch(() => undefined);
        taken[i] = sent;
      }
    } finally {
      await handle.close();
    }
  };
  return Object.assign(sendFile, { done: async () => void (await Promise.all(taken)) });
}

/** Ten minutes plus a second per MiB sent: generous for slow links, still a bound on a hung transfer. */
export function uploadTimeoutMs(uploads: readonly Upload[]): number {
  const bytes = uploads.reduce((n, u) => n + u.transfer.bytes, 0);
  return 600_000 + Math.ceil(bytes / (1024 * 1024)) * 1000;
}

function hintFor(upload: Upload, stderr: string): string {
  const dir = posix.dirname(upload.path);
  if (/may be changed by users other than root/.test(stderr)) return `make ${dir} root's alone: chown root ${dir} && chmod go-w ${dir}`;
  if (/\btar: (command )?not found/.test(stderr)) return 'install the tar package on the host (it unpacks the files kubestrap sends), then re-run';
  if (/not found/.test(stderr) && upload.transfer.codec !== 'none') {
    return `the host lacks ${upload.transfer.codec}: install it, or set UPLOAD_COMPRESSION=gzip (or none) for this host`;
  }
  if (/No space left/i.test(stderr)) return `free space in ${dir} on the host`;
  if (/cannot overwrite directory|Is a directory/i.test(stderr)) return `${upload.path} is a directory on the host: move it away, then re-run`;
  return 'check the host\'s disk and the path, then re-run';
}

/**
 * The host's side of an upload. Each target folder gets a fresh stage folder inside it, so the
 * final rename stays on one filesystem, and is checked first: the stage is handled by name, so, as
 * putFile's install does, the folder must be one no one but root can change (see sharedDirGuard).
 * The stage folders' names are chosen here (mkdir fails on any name that exists), because the
 * archive's member names carry them.
 *
 * tar reads its stdin to the end: the upload is the last reader of its command's input (apply.ts
 * makes sure). It runs as root, so each file gets the mode its header gives; -m leaves the mtime
 * of the unpacking, and the owner is set by chown, which fails on an unknown user instead of
 * falling back to a number.
 */
function installScript(uploads: readonly Upload[], stages: ReadonlyMap<string, string>, staged: (u: Upload) => string): string {
  const dirs = [...stages.keys()];
  const quotedStages = [...stages.values()].map(shq).join(' ');
  const names = (us: readonly Upload[]) => us.map((u) => shq(staged(u))).join(' ');
  const codec = uploads[0]!.transfer.codec;
  const untar = `tar -x -P -m --no-same-owner -b ${TAR_RECORD_BLOCKS} -f -`;
  const decoder = DECODERS[codec];
  return [
    `# kubestrap: install ${uploads.map((u) => scriptComment(u.path)).join(' ')}`,
    'set -e',
    'umask 022',
    ...dirs.flatMap((dir) => [`ks_dir=${shq(dir)}`, '[ -d "$ks_dir" ] || mkdir -p -- "$ks_dir"', sharedDirGuard('"$ks_dir"')]),
    `find ${dirs.map(shq).join(' ')} -maxdepth 1 -name '${STAGE_PREFIX}*' -mmin +${STALE_STAGE_MINUTES} -exec rm -rf -- {} + 2>/dev/null || :`,
    `mkdir -m 700 -- ${quotedStages}`,
    `trap 'rm -rf -- ${quotedStages.replaceAll("'", "'\\''")}' EXIT`,
    // The decoder's status comes back on fd 3: a pipeline's own status is its last command's.
    ...(decoder
      ? [`ks_rc=$({ { ${decoder}; echo "$?" >&3; } | ${untar} >&2; } 3>&1)`, `[ "$ks_rc" = 0 ] || { echo ${shq(`${codec} could not decode the transfer (exit`)} "$ks_rc)" >&2; exit 1; }`]
      : [untar]),
    `set -- $(stat -c %s -- ${names(uploads)})`,
    ...uploads.map((u) => `[ "$1" = ${u.size} ] || { echo ${shq(`${u.path}: received`)} "$1" ${shq(`of ${u.size} bytes: the transfer was cut short`)} >&2; exit 1; }; shift`),
    ...groupBy(uploads, (u) => `${u.owner}:${u.group}`).map(([spec, us]) => `${shJoin(['chown', '--', spec])} ${names(us)}`),
    // -t: each file keeps its name; a target that is a folder is refused, not written into.
    ...groupBy(uploads, (u) => posix.dirname(u.path)).map(([dir, us]) => `mv -f -t ${shq(dir)} -- ${names(us)}`),
    `rmdir -- ${quotedStages}`,
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
