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
import { tarPadding, type TarEntry } from './tar-header.js';
import { endOfInputLine, firstAstray, layOut, readListing, type ArchiveLayout } from './tar-listing.js';
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
}

/**
 * A script the install runs once every file is in place, before it ends (under `set -e`: it fails
 * the install if it fails), given the files it installed; e.g. the engine's update of its record on
 * the host, so the record gets each file's size and mtime as the host has them.
 */
export type AfterInstall<U extends Upload> = (installed: readonly U[]) => string;

/** Stage folders a run left behind (killed mid-transfer) are removed once they are this old. */
const STALE_STAGE_MINUTES = 60;
const STAGE_PREFIX = '.kubestrap-upload-';

/** The archive's last member, an empty file in the first stage folder: tar must list it where it belongs (see installScript). */
const END_MEMBER = `${STAGE_PREFIX}end`;

/** tar's record on the host: 256 blocks of 512 bytes, so it reads and writes 128 KiB at a time, not 10 KiB. */
const TAR_RECORD_BLOCKS = 256;

/** The line after tar's listing on the host: the decoder's exit code, then tar's. */
const STATUS = '@@kubestrap-untar';
/** Before the listing in a failed install's output, for uploadFailure to read. */
const LISTING = '@@kubestrap-tar-listing';

/** A member of an upload's archive: its name relative to the folder of `dir`, and the file it holds (none for the end member). */
type Member = TarEntry & { dir: string; upload?: Upload };

/** The host's side of an upload and the bytes it reads, made together: they share the stage folders' names. */
export interface PreparedUpload {
  uploads: readonly Upload[];
  /** Installs the files from its stdin (see installScript). */
  script: string;
  /** The stdin installScript reads. */
  source(budget?: ByteBudget): StreamSource;
  /** The archive the stdin carries, for reading what tar made of it. */
  archive: ArchiveLayout<Member>;
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
 * command's stdin into a stage folder inside each target folder, checks that every file's bytes
 * were as many as its header said, then renames the files over their targets (readers see an old
 * file or a whole new one) and runs `afterInstall` (the engine records them in kubestrap's record
 * on the host with the size and mtime they have there).
 *
 * The archive is never made: its headers are written here, and each file's bytes (its encoding,
 * made once) stream between them through two reused buffers, never whole in memory and bounded
 * across hosts by the shared budget. So a host's work is one tar (and one decoder) for all its
 * files, whatever their number: one process costs more than writing a megabyte on a small VM.
 *
 * Nothing is renamed unless every file arrived whole, and a failure removes the stage folders.
 * Integrity in transit comes from SSH (every packet is authenticated) and the codec's own check
 * (gzip CRC32, zstd checksum). The sources were verified against their checksums before they got
 * this far, but their encodings are only files in a cache: one that decodes to more than its file
 * could go on with tar members of its own, so the host extracts only the members it is told about,
 * under names no encoding can know, and fails the install unless the stream was exactly as long as
 * the archive (see installScript).
 *
 * Cost: 1 exec round trip, carrying the sum of `transfer.bytes` and a few KiB of headers. The
 * engine runs the script as one step of a batch instead (see engine/apply.ts), so the files share
 * their command with the scripts around. uploadFiles sends each codec's files in a command of their own.
 */
export async function uploadFiles<U extends Upload>(host: RemoteHost, uploads: readonly U[], budget: ByteBudget = UPLOAD_BUDGET, afterInstall?: AfterInstall<U>): Promise<void> {
  for (const [, group] of groupBy(uploads, (u) => u.transfer.codec)) {
    const upload = prepareUpload(group, afterInstall);
    const outcome = await runWithUpload(host, upload.script, upload, { timeoutMs: uploadTimeoutMs(group) }, budget);
    if (outcome instanceof ChangedSourceError) throw changedSourceFailure(host.name, outcome);
    if (outcome.code !== 0) throw uploadFailure(host.name, upload, outcome.code, outcome.stderr || outcome.stdout);
  }
}

/**
 * Runs `script` (which holds the upload's script) with the upload's stream on its stdin. A local
 * file that changed under the stream is the outcome, whatever the host made of the stream cut short.
 */
export async function runWithUpload(
  host: RemoteHost,
  script: string,
  upload: PreparedUpload,
  opts: { timeoutMs?: number },
  budget: ByteBudget = UPLOAD_BUDGET,
): Promise<ExecResult | ChangedSourceError> {
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
export function prepareUpload<U extends Upload>(uploads: readonly U[], afterInstall?: AfterInstall<U>): PreparedUpload {
  const codecs = new Set(uploads.map((u) => u.transfer.codec));
  if (codecs.size !== 1) throw new Error(`one upload stream carries one codec, not ${[...codecs].join(', ') || 'none at all'}`);
  const paths = uploads.map((u) => u.path);
  if (new Set(paths).size !== paths.length) throw new Error(`one upload stream installs a file once: ${paths.join(', ')}`);
  const reserved = uploads.find((u) => posix.basename(u.path).startsWith(STAGE_PREFIX));
  if (reserved) throw new Error(`${reserved.path}: names starting with ${STAGE_PREFIX} are kubestrap's stage folders`);
  const dirs = [...new Set(uploads.map((u) => posix.dirname(u.path)))];
  // New for every upload, and in every member's name: no byte of a cached encoding can name a member tar extracts.
  const stages = new Map(dirs.map((dir) => [dir, `${STAGE_PREFIX}${randomBytes(6).toString('hex')}`]));
  const mtime = Math.floor(Date.now() / 1000);
  const member = (dir: string, name: string, size: number, mode: number, upload?: Upload): Member => ({ path: `${stages.get(dir)!}/${name}`, size, mode, mtime, dir, ...(upload ? { upload } : {}) });
  const archive = layOut([...uploads.map((u) => member(posix.dirname(u.path), posix.basename(u.path), u.size, u.mode, u)), member(dirs[0]!, END_MEMBER, 0, 0o600)]);
  return {
    uploads,
    archive,
    script: installScript(uploads, stages, archive, afterInstall?.(uploads)),
    source: (budget = UPLOAD_BUDGET) => archiveSource(archive, uploads[0]!.transfer.codec, budget),
  };
}

/** The error for an upload whose local file changed while it was sent. */
export function changedSourceFailure(host: string, e: ChangedSourceError): HostError {
  return new HostError(host, `installing ${e.upload.path} failed: ${e.message}`, { resource: `file:${e.upload.path}` }, 're-run: kubestrap checks the local copy again and sends it whole');
}

/**
 * installScript failed with this output: the error to report, about the file it names (else the
 * first). The listing tar printed, when the check after it failed, says which file's bytes were not
 * as many as its header said.
 */
export function uploadFailure(host: string, upload: PreparedUpload, exitCode: number, output: string): HostError {
  const { uploads, archive } = upload;
  const at = output.lastIndexOf(`${LISTING}\n`);
  // What the host's tools said, without the listing; the check's output comes last, after every tool ended.
  const said = at < 0 ? output : output.slice(0, at);
  const fault = at < 0 ? undefined : listingFault(archive, output.slice(at));
  // tar names a file by its member's name, mv and chown by a path that ends in it.
  const named = archive.members.find(({ entry }) => entry.upload && said.includes(entry.path))?.entry.upload;
  const failed = fault?.upload ?? named ?? uploads[0]!;
  const what = uploads.length === 1 ? failed.path : `${uploads.length} files (${uploads.map((u) => posix.basename(u.path)).join(', ')})`;
  return new HostError(
    host,
    fault ? `installing ${what} failed: ${fault.reason}` : `installing ${what} failed`,
    {
      resource: `file:${failed.path}`,
      command: 'unpack the files into a stage folder, check their lengths, chown, mv',
      exitCode,
      ...(said.trim() ? { stderrTail: said.trim().split('\n').slice(-10).join('\n') } : {}),
    },
    fault?.hint ?? hintFor(failed, said),
  );
}

/** What tar's listing and exit codes (the host's check printed them after LISTING) say went wrong, if they say. */
function listingFault(archive: ArchiveLayout<Member>, text: string): { upload: Upload; reason: string; hint?: string } | undefined {
  const status = new RegExp(`^${STATUS} (\\d+) (\\d+)$`, 'm').exec(text);
  const [decoder, tar] = [Number(status?.[1] ?? 0), Number(status?.[2] ?? 0)];
  // A tar that never ran leaves its decoder writing into nothing: hintFor says what is missing.
  if (tar === 127) return undefined;
  const astray = firstAstray(archive, readListing(text));
  const files = archive.members.flatMap(({ entry }) => (entry.upload ? [entry.upload] : []));
  // The end member has no file of its own: the stream went wrong in the file before it.
  const u = astray ? (astray.member.entry.upload ?? files[files.length - 1]!) : files[0]!;
  const again = `re-run; if it fails the same way, delete ${u.transfer.file} (kubestrap encodes the file again)`;
  if (decoder !== 0) return { upload: u, reason: `${u.transfer.codec} could not decode the transfer (exit ${decoder})`, ...(decoder === 127 ? {} : { hint: again }) };
  if (!astray) return undefined;
  if (astray.more) {
    return {
      upload: u,
      reason: `${u.path}: its encoding ${u.transfer.file} decodes to more than the file's ${u.size} bytes; nothing was installed`,
      hint: `the encoding is not the checked file's: delete ${u.transfer.file} and re-run (kubestrap encodes the file again); if it comes back, find out what else writes there`,
    };
  }
  const cut = `${u.path}: fewer than its ${u.size} bytes arrived: the transfer was cut short`;
  if (u.transfer.codec === 'none') return { upload: u, reason: cut };
  return { upload: u, reason: `${cut}, or its encoding ${u.transfer.file} decodes to fewer`, hint: again };
}

/**
 * The archive: each member's header, then its bytes, then the padding to a whole block, which goes
 * with the next header as one small piece; the end member and the end blocks last. Small pieces go
 * in the codec's own framing (see inlineFrame); each file is its encoding as is.
 */
function archiveSource(archive: ArchiveLayout<Member>, codec: TransferCodec, budget: ByteBudget): StreamSource {
  return async (write) => {
    const sendFile = fileSender(write, budget);
    const send = (piece: Buffer) => write(inlineFrame(codec, piece));
    let padding: Buffer = Buffer.alloc(0);
    for (const { entry, header } of archive.members) {
      await send(Buffer.concat([padding, header]));
      // Sent as is, the file's bytes are the member's: they must be as many as its header says.
      if (entry.upload) await sendFile(entry.upload, codec === 'none' ? entry.size : entry.upload.transfer.bytes);
      padding = tarPadding(entry.size);
    }
    await sendFile.done();
    await send(Buffer.concat([padding, archive.end]));
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
  return "check the host's disk and the path, then re-run";
}

/**
 * The host's side of an upload. Each target folder gets a fresh stage folder inside it, so the
 * final rename stays on one filesystem, and is checked first: the stage is handled by name, so, as
 * putFile's install does, the folder must be one no one but root can change (see sharedDirGuard).
 * The stage folders' names are chosen here (mkdir fails on any name that exists), because the
 * archive's member names carry them.
 *
 * tar runs as root, so each file gets the mode its header gives; -m leaves the mtime of the
 * unpacking, and the owner is set by chown, which fails on an unknown user instead of falling back
 * to a number. It reads its stdin to the end: the upload is the last reader of its command's input
 * (the engine's apply.ts makes sure).
 *
 * The bytes between the headers are the cached encodings', and an encoding can decode to anything,
 * tar members included. So tar extracts only the members named on its command line, each under its
 * target folder (-C) by a name that starts with its stage folder's, never an absolute one (no -P),
 * and matched whole (see untarCommand). Every other member is skipped unwritten, whatever its type.
 * Then tar's listing must end where the archive does: the stream held exactly the archive's blocks,
 * so every file's bytes were as many as its header said (see tar-listing.ts), and tar found the end
 * member, which comes after every file and has a name no encoding can know. Nothing is renamed
 * otherwise, and the trap removes the stage folders with whatever tar put in them. `then` runs last.
 */
function installScript(uploads: readonly Upload[], stages: ReadonlyMap<string, string>, archive: ArchiveLayout<Member>, then?: string): string {
  const dirs = [...stages.keys()];
  const quotedStages = [...stages].map(([dir, stage]) => shq(posix.join(dir, stage))).join(' ');
  const staged = (us: readonly Upload[]) => us.map((u) => shq(posix.join(posix.dirname(u.path), stages.get(posix.dirname(u.path))!, posix.basename(u.path)))).join(' ');
  const decoder = DECODERS[uploads[0]!.transfer.codec];
  // The decoder's exit code comes back on fd 3 and tar's on stdout, read once both ended; tar's
  // listing goes to fd 4, so no status can land in the middle of it.
  const feed = decoder ? `{ ${decoder} && echo 0 >&3 || echo "$?" >&3; } | ` : 'echo 0 >&3; ';
  const expected = `\n${endOfInputLine(archive.blocks)}\n${STATUS} 0 0`;
  return [
    `# kubestrap: install ${uploads.map((u) => scriptComment(u.path)).join(' ')}`,
    'set -e',
    'umask 022',
    ...dirs.flatMap((dir) => [`ks_dir=${shq(dir)}`, '[ -d "$ks_dir" ] || mkdir -p -- "$ks_dir"', sharedDirGuard('"$ks_dir"')]),
    `find ${dirs.map(shq).join(' ')} -maxdepth 1 -name '${STAGE_PREFIX}*' -mmin +${STALE_STAGE_MINUTES} -exec rm -rf -- {} + 2>/dev/null || :`,
    `mkdir -m 700 -- ${quotedStages}`,
    `trap 'rm -rf -- ${quotedStages.replaceAll("'", "'\\''")}' EXIT`,
    `ks_out=$({ ks_rc=$({ ${feed}${untarCommand(archive)} >&4 && echo 0 || echo "$?"; } 3>&1); echo ${STATUS} $ks_rc; } 4>&1)`,
    `case $ks_out in *${shq(expected)}) ;; *) printf '%s\\n' ${LISTING} "$ks_out" >&2; exit 1 ;; esac`,
    ...groupBy(uploads, (u) => `${u.owner}:${u.group}`).map(([spec, us]) => `${shJoin(['chown', '--', spec])} ${staged(us)}`),
    // -t: each file keeps its name; a target that is a folder is refused, not written into.
    ...groupBy(uploads, (u) => posix.dirname(u.path)).map(([dir, us]) => `mv -f -t ${shq(dir)} -- ${staged(us)}`),
    // The end member is all that is left in them.
    `rm -rf -- ${quotedStages}`,
    'trap - EXIT',
    ...(then ? [then] : []),
  ].join('\n');
}

/**
 * tar as the install runs it; every option is in GNU tar 1.26 (CentOS 7) and later. Neither the
 * host's TAR_OPTIONS nor its language changes it: its listing keeps the words tar-listing.ts reads,
 * and its messages the ones hintFor reads.
 *   -i -v -R                      the listing (tar-listing.ts): on past zero blocks to the input's end
 *   --no-recursion                a name matches the member of that very name, not members under it
 *                                 (up to tar 1.29, `NAME/../../x` matched NAME and landed in x: CVE-2016-6321)
 *   --no-wildcards --no-unquote   a name is itself, not a pattern or a text with backslash escapes
 *   -C DIR NAME...                the members of DIR's stage, extracted under DIR
 */
function untarCommand(archive: ArchiveLayout<Member>): string {
  const groups = groupBy(
    archive.members.map((m) => m.entry),
    (m) => m.dir,
  );
  return [
    `LC_ALL=C TAR_OPTIONS= tar -x -m --no-same-owner -b ${TAR_RECORD_BLOCKS} -f - -i -v -R --no-recursion --no-wildcards --no-unquote`,
    ...groups.map(([dir, members]) => `-C ${shq(dir)} ${members.map((m) => shq(m.path)).join(' ')}`),
  ].join(' ');
}

/** `items` by `key`, in the order each key first appears. */
function groupBy<T>(items: readonly T[], key: (item: T) => string): Array<[string, T[]]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups];
}
