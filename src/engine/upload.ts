import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { HostError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { scriptComment, sharedDirGuard } from '../ssh/put-file.js';
import { shJoin, shq } from '../ssh/quote.js';
import { UPLOAD_BUDGET, UPLOAD_CHUNK, type ByteBudget } from './byte-budget.js';
import { recordFileScript, type RecordFields } from './host-record.js';

/** How the bytes travel: compressed once on the controller, decompressed on the host as they arrive. */
export type TransferCodec = 'zstd' | 'gzip' | 'none';

/** The command that turns the transfer stream back into the file's bytes on the host. */
const DECODERS: Record<TransferCodec, string> = { zstd: 'zstd -dcq', gzip: 'gzip -dc', none: 'cat' };

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

/**
 * Installs a local file on a host in one command: the encoded bytes stream into the command's stdin
 * (never whole in memory, bounded across hosts by the shared budget), are decoded into a temp file
 * next to the target, checked for the full size, given owner and mode, renamed over the target
 * (readers see the old file or the whole new one), and recorded in kubestrap's record on the host
 * with the size and mtime they have there.
 *
 * Integrity in transit comes from SSH (every packet is authenticated) and the codec's own check
 * (gzip CRC32, zstd checksum); a short stream fails the size check. The source itself was verified
 * against its checksum before it got this far.
 *
 * Cost: 1 exec round trip, carrying `transfer.bytes`.
 */
export async function uploadFile(host: RemoteHost, upload: Upload, budget: ByteBudget = UPLOAD_BUDGET): Promise<void> {
  const script = installScript(upload);
  const input = () => budget.meter(createReadStream(upload.transfer.file, { highWaterMark: UPLOAD_CHUNK }));
  const res = await host.runWithInput(script, input, { timeoutMs: uploadTimeoutMs(upload.transfer.bytes) });
  if (res.code !== 0) {
    throw new HostError(host.name, `installing ${upload.path} failed`, {
      resource: `file:${upload.path}`,
      command: `${DECODERS[upload.transfer.codec]} > temp file, check size, chown, chmod, mv`,
      exitCode: res.code,
      stderrTail: (res.stderr || res.stdout).trim().split('\n').slice(-10).join('\n'),
    }, hintFor(upload, res.stderr));
  }
}

/** Ten minutes plus a second per MiB: generous for slow links, still a bound on a hung transfer. */
function uploadTimeoutMs(bytes: number): number {
  return 600_000 + Math.ceil(bytes / (1024 * 1024)) * 1000;
}

function hintFor(upload: Upload, stderr: string): string {
  const dir = posix.dirname(upload.path);
  if (/may be changed by users other than root/.test(stderr)) return `make ${dir} root's alone: chown root ${dir} && chmod go-w ${dir}`;
  if (/not found/.test(stderr) && upload.transfer.codec !== 'none') {
    return `the host lacks ${upload.transfer.codec}: install it, or set UPLOAD_COMPRESSION=gzip (or none) for this host`;
  }
  if (/No space left/i.test(stderr)) return `free space in ${dir} on the host`;
  return 'check the host\'s disk and the path, then re-run';
}

/**
 * The temp file is handled by name, so, as putFile's install does, the target folder must be one no
 * one but root can change (see sharedDirGuard).
 */
export function installScript(u: Upload): string {
  const dir = posix.dirname(u.path);
  const template = `${posix.join(dir, `.${posix.basename(u.path).slice(0, 100)}.kubestrap-`)}XXXXXX`;
  return [
    `# kubestrap: install ${scriptComment(u.path)}`,
    'set -e',
    'umask 022',
    `ks_dir=${shq(dir)}`,
    'mkdir -p -- "$ks_dir"',
    sharedDirGuard('"$ks_dir"'),
    `ks_tmp=$(mktemp ${shq(template)})`,
    `trap 'rm -f "$ks_tmp"' EXIT`,
    `${DECODERS[u.transfer.codec]} > "$ks_tmp"`,
    'set -- $(stat -c %s "$ks_tmp")',
    `[ "$1" = ${u.size} ] || { echo "received $1 of ${u.size} bytes: the transfer was cut short" >&2; exit 1; }`,
    `${shJoin(['chown', '--', `${u.owner}:${u.group}`])} "$ks_tmp"`,
    `chmod -- ${u.mode.toString(8).padStart(4, '0')} "$ks_tmp"`,
    `mv -f -- "$ks_tmp" ${shq(u.path)}`,
    'trap - EXIT',
    recordFileScript(u.path, { sha256: u.sha256, ...u.record }),
  ].join('\n');
}
