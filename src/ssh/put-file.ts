import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { HostError, SshError } from '../errors.js';
import { CONTROL_CHARACTER, printable } from '../printable.js';
import type { ExecResult } from './exec.js';
import { shq } from './quote.js';
import { SFTP_NO_SUCH_FILE, sftpCode, type SftpSession } from './sftp.js';

/**
 * Atomic file upload. Readers of the target either see the old file or the complete new one with
 * its final mode and owner, never a partial or world-readable temp: the content goes to a temp file
 * in the target's directory (created 0600, O_EXCL), gets its owner and mode, and is renamed over
 * the target. Same directory means same filesystem, so the rename is atomic.
 *
 * Cost in round trips, when the file must be written:
 *   root login: 1 exec (only when the current hash is not given) + SFTP open, write per 32 KiB,
 *     [fsetstat owner], fsetstat mode, close, rename (write..close are pipelined: 1 wait);
 *   sudo user: 1 exec probe (same condition) + SFTP open, write per 32 KiB, close into a staging
 *     file in the login user's home + 1 exec (sudo) that installs it.
 * A skipped file costs the probe exec, or nothing when `currentSha256` is given.
 */

export interface PutFileOptions {
  mode: number;
  owner?: string;
  group?: string;
  /** The hash the caller already knows (null = file absent); undefined = ask the host. */
  currentSha256?: string | null;
}

/** What putFile needs from the connection. */
export interface PutFileHost {
  name: string;
  isRoot: boolean;
  /** Runs a POSIX sh script as root. */
  run(script: string): Promise<ExecResult>;
  sftp(): Promise<SftpSession>;
  /** Absolute home directory of the login user (cached by the host). */
  home(): Promise<string>;
}

/** What the host says about the target and the owner/group names, from one probe exec. */
interface Probe {
  sha256: string | null;
  mode?: number;
  uid?: number;
  gid?: number;
  wantUid?: number;
  wantGid?: number;
}

export async function putFile(host: PutFileHost, path: string, content: Buffer | string, opts: PutFileOptions): Promise<{ written: boolean }> {
  checkArgs(host.name, path, opts);
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const sha = createHash('sha256').update(data).digest('hex');
  let probe: Probe | undefined;
  if (opts.currentSha256 === undefined) {
    probe = await probeTarget(host, path, opts);
    if (probe.sha256 === sha && attributesMatch(probe, opts)) return { written: false };
  } else if (opts.currentSha256 === sha) {
    return { written: false };
  }
  if (host.isRoot) await writeAsRoot(host, path, data, opts, probe);
  else await writeViaSudo(host, path, data, opts);
  return { written: true };
}

function checkArgs(host: string, path: string, opts: PutFileOptions): void {
  if (!path.startsWith('/') || path.endsWith('/') || posix.normalize(path) !== path || CONTROL_CHARACTER.test(path)) {
    throw new HostError(host, `putFile needs a normalized absolute file path without control characters, got ${JSON.stringify(path)}`, { resource: path });
  }
  if (!Number.isInteger(opts.mode) || opts.mode < 0 || opts.mode > 0o7777) {
    throw new HostError(host, `putFile mode must be an integer between 0 and 0o7777, got ${opts.mode}`, { resource: path });
  }
}

/**
 * One exec that reads the target's hash, mode and owner, and resolves owner/group names to ids
 * (needed for SFTP, which only speaks numbers). Output lines: `sha H`|`absent`|`notfile`,
 * `stat MODE UID GID`, `uid N`, `gid N`.
 */
function probeScript(path: string, opts: PutFileOptions): string {
  const lines = [
    `# kubestrap: inspect ${scriptComment(path)}`,
    `f=${shq(path)}`,
    'if [ -f "$f" ]; then',
    '  set -- $(sha256sum < "$f"); echo "sha $1"',
    '  echo "stat $(stat -c \'%a %u %g\' "$f")"',
    'elif [ -e "$f" ]; then echo notfile; else echo absent; fi',
  ];
  if (opts.owner !== undefined && !isNumeric(opts.owner)) lines.push(`echo "uid $(id -u ${shq(opts.owner)} 2>/dev/null)"`);
  if (opts.group !== undefined && !isNumeric(opts.group)) lines.push(`echo "gid $(getent group ${shq(opts.group)} | cut -d: -f3)"`);
  return lines.join('\n');
}

async function probeTarget(host: PutFileHost, path: string, opts: PutFileOptions): Promise<Probe> {
  const res = await host.run(probeScript(path, opts));
  if (res.code !== 0) {
    throw new HostError(host.name, `cannot inspect ${path}`, { resource: path, command: 'sha256sum/stat', exitCode: res.code, stderrTail: res.stderr });
  }
  const probe = parseProbe(res.stdout);
  if (probe === 'notfile') throw new HostError(host.name, `${path} exists and is not a regular file`, { resource: path }, 'remove it or choose another path');
  checkIds(host.name, path, opts, probe);
  return probe;
}

export function parseProbe(stdout: string): Probe | 'notfile' {
  const probe: Probe = { sha256: null };
  for (const line of stdout.split('\n')) {
    const [word, ...rest] = line.trim().split(/\s+/);
    if (word === 'notfile') return 'notfile';
    if (word === 'sha' && rest[0]) probe.sha256 = rest[0];
    if (word === 'stat' && rest.length === 3) {
      probe.mode = parseInt(rest[0] ?? '', 8);
      probe.uid = Number(rest[1]);
      probe.gid = Number(rest[2]);
    }
    if (word === 'uid' && rest[0]) probe.wantUid = Number(rest[0]);
    if (word === 'gid' && rest[0]) probe.wantGid = Number(rest[0]);
  }
  return probe;
}

function checkIds(host: string, path: string, opts: PutFileOptions, probe: Probe): void {
  if (opts.owner !== undefined && !isNumeric(opts.owner) && probe.wantUid === undefined) {
    throw new HostError(host, `user ${opts.owner} does not exist on the host`, { resource: path }, 'create the user first, or fix the owner');
  }
  if (opts.group !== undefined && !isNumeric(opts.group) && probe.wantGid === undefined) {
    throw new HostError(host, `group ${opts.group} does not exist on the host`, { resource: path }, 'create the group first, or fix the group');
  }
}

/**
 * Same content is not enough to skip when the layer looked itself: a file with the right bytes but
 * the wrong mode or owner is rewritten (atomically), since the caller asked for both.
 */
function attributesMatch(probe: Probe, opts: PutFileOptions): boolean {
  if (probe.mode !== opts.mode) return false;
  const uid = opts.owner === undefined ? undefined : isNumeric(opts.owner) ? Number(opts.owner) : probe.wantUid;
  const gid = opts.group === undefined ? undefined : isNumeric(opts.group) ? Number(opts.group) : probe.wantGid;
  return (uid === undefined || uid === probe.uid) && (gid === undefined || gid === probe.gid);
}

/**
 * A path as it may appear in a script's first line (the comment that names the command in logs and
 * errors): on one line whatever it holds, since a newline there would end the comment and start a
 * command. Operands themselves always travel quoted (shq).
 */
export function scriptComment(path: string): string {
  return printable(path, { keepNewlines: false });
}

function isNumeric(id: string): boolean {
  return /^\d+$/.test(id);
}

function tempName(dir: string, path: string): string {
  // Hidden, recognisable (for cleanup by hand after a crash) and short enough for NAME_MAX.
  return posix.join(dir, `.${posix.basename(path).slice(0, 100)}.kubestrap-${randomBytes(6).toString('hex')}`);
}

// ---- root login: everything over SFTP ----

// chown(2) with -1 leaves that id unchanged; SFTP sets uid and gid together, so an unset one is -1.
const KEEP_ID = 0xffffffff;

async function writeAsRoot(host: PutFileHost, path: string, data: Buffer, opts: PutFileOptions, probe: Probe | undefined): Promise<void> {
  const ids = await numericIds(host, path, opts, probe);
  const sftp = await host.sftp();
  const dir = posix.dirname(path);
  const tmp = tempName(dir, path);
  const handle = await createWithParents(sftp, dir, tmp);
  try {
    // Pipelined: sftp-server handles requests in order, so the close comes after the writes and
    // the attributes. chown goes before chmod because chown clears setuid/setgid bits.
    const steps = [...sftp.writeAll(handle, tmp, data)];
    if (ids) steps.push(sftp.setAttributes(handle, tmp, { uid: ids.uid ?? KEEP_ID, gid: ids.gid ?? KEEP_ID }));
    steps.push(sftp.setAttributes(handle, tmp, { mode: opts.mode }));
    steps.push(sftp.close(handle, tmp));
    await Promise.all(steps);
    await sftp.rename(tmp, path);
  } catch (err) {
    await sftp.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Opens the temp file; if its directory is missing, creates the missing parents (0755) and tries again. */
async function createWithParents(sftp: SftpSession, dir: string, tmp: string): Promise<Buffer> {
  try {
    return await sftp.createExclusive(tmp, 0o600);
  } catch (err) {
    if (sftpCode(err) !== SFTP_NO_SUCH_FILE) throw err;
    await mkdirs(sftp, dir);
    return sftp.createExclusive(tmp, 0o600);
  }
}

/** mkdir -p over SFTP: optimistic from the deepest directory, walking up only on "no such file". */
async function mkdirs(sftp: SftpSession, dir: string): Promise<void> {
  if (dir === '/') return;
  try {
    await sftp.mkdir(dir, 0o755);
  } catch (err) {
    if (sftpCode(err) !== SFTP_NO_SUCH_FILE) return; // exists (SFTP v3 says only "failure"); open will tell if not
    await mkdirs(sftp, posix.dirname(dir));
    await sftp.mkdir(dir, 0o755);
  }
}

/** uid/gid for SFTP; names not resolved by a probe cost one exec (cached per host). */
async function numericIds(host: PutFileHost, path: string, opts: PutFileOptions, probe: Probe | undefined): Promise<{ uid?: number; gid?: number } | undefined> {
  if (opts.owner === undefined && opts.group === undefined) return undefined;
  const resolved = probe ?? (await resolveIds(host, path, opts));
  return {
    uid: opts.owner === undefined ? undefined : isNumeric(opts.owner) ? Number(opts.owner) : resolved.wantUid,
    gid: opts.group === undefined ? undefined : isNumeric(opts.group) ? Number(opts.group) : resolved.wantGid,
  };
}

const idCache = new WeakMap<PutFileHost, Map<string, Probe>>();

async function resolveIds(host: PutFileHost, path: string, opts: PutFileOptions): Promise<Probe> {
  const key = `${opts.owner ?? ''}:${opts.group ?? ''}`;
  const cache = idCache.get(host) ?? new Map<string, Probe>();
  idCache.set(host, cache);
  const hit = cache.get(key);
  if (hit) return hit;
  const lines: string[] = ['# kubestrap: resolve owner/group ids'];
  if (opts.owner !== undefined && !isNumeric(opts.owner)) lines.push(`echo "uid $(id -u ${shq(opts.owner)} 2>/dev/null)"`);
  if (opts.group !== undefined && !isNumeric(opts.group)) lines.push(`echo "gid $(getent group ${shq(opts.group)} | cut -d: -f3)"`);
  const probe: Probe = { sha256: null };
  if (lines.length > 1) {
    const res = await host.run(lines.join('\n'));
    const parsed = parseProbe(res.stdout);
    if (parsed !== 'notfile') Object.assign(probe, { wantUid: parsed.wantUid, wantGid: parsed.wantGid });
  }
  checkIds(host.name, path, opts, probe);
  cache.set(key, probe);
  return probe;
}

// ---- sudo user: stage over SFTP, install with one sudo command ----

async function writeViaSudo(host: PutFileHost, path: string, data: Buffer, opts: PutFileOptions): Promise<void> {
  const sftp = await host.sftp();
  const staging = posix.join(await host.home(), `.kubestrap-staging-${randomBytes(8).toString('hex')}`);
  const handle = await sftp.createExclusive(staging, 0o600);
  try {
    await Promise.all([...sftp.writeAll(handle, staging, data), sftp.close(handle, staging)]);
    const res = await host.run(installScript(staging, path, opts));
    if (res.code === SHARED_DIR_EXIT) {
      const dir = posix.dirname(path);
      throw new HostError(
        host.name,
        `refusing to install ${path}: ${res.stderr.trim()}`,
        { resource: path },
        `let only root change ${dir}: chown root ${dir} && chmod go-w ${dir} (or give it the sticky bit, chmod +t, as /tmp has)`,
      );
    }
    if (res.code !== 0) {
      throw new HostError(host.name, `installing ${path} failed`, { resource: path, command: 'install staged file (mktemp, chown, chmod, mv)', exitCode: res.code, stderrTail: res.stderr });
    }
  } catch (err) {
    // The install script removes the staging file itself; this covers failures before it ran.
    await sftp.unlink(staging).catch(() => undefined);
    throw err instanceof SshError || err instanceof HostError ? err : new HostError(host.name, String(err), { resource: path });
  }
}

/** The exit code of a script that refused a directory others may change. */
export const SHARED_DIR_EXIT = 3;

/**
 * One shell line that fails (exit 3, with a message) unless the directory (a quoted shell word) can
 * be changed only by the user running it (root): owned by that user and not writable by group or
 * others, or sticky. Where others may rename entries, a file handled by name between two commands
 * could be swapped for a symlink, and root would write, chown or chmod whatever it points to.
 */
export function sharedDirGuard(dir: string): string {
  return [
    `set -- $(stat -L -c '%u %a' -- ${dir}) && { [ "$1" = "$(id -u)" ] && { [ $(( 0$2 & 022 )) -eq 0 ] || [ $(( 0$2 & 01000 )) -ne 0 ]; } ||`,
    `{ echo ${dir}" may be changed by users other than root (owner uid $1, mode $2)" >&2; exit ${SHARED_DIR_EXIT}; }; }`,
  ].join(' ');
}

/**
 * Copies the staged file into a 0600 temp in the target dir, sets owner and mode, renames it over the
 * target. The temp is handled by name, so the directory must be one where no one but the installing
 * user (root) can rename or replace entries: owned by that user and not writable by group or others,
 * or sticky. Elsewhere someone could swap the temp for a symlink between two commands and have root
 * write, chown or chmod whatever it points to; such a directory is refused.
 */
export function installScript(staging: string, path: string, opts: PutFileOptions): string {
  const dir = posix.dirname(path);
  const template = `${posix.join(dir, `.${posix.basename(path).slice(0, 100)}.kubestrap-`)}XXXXXX`;
  const owner = opts.owner === undefined ? '' : opts.owner;
  const spec = opts.group === undefined ? owner : `${owner}:${opts.group}`;
  return [
    `# kubestrap: install ${scriptComment(path)}`,
    'set -e',
    `src=${shq(staging)}; dst=${shq(path)}; tmp=`,
    `trap 'rm -f "$src" \${tmp:+"$tmp"}' EXIT`,
    `if [ -d "$dst" ]; then echo "$dst is a directory" >&2; exit 1; fi`,
    'umask 022',
    `dir=${shq(dir)}`,
    'mkdir -p -- "$dir"',
    sharedDirGuard('"$dir"'),
    `tmp=$(mktemp ${shq(template)})`,
    'cat "$src" > "$tmp"',
    ...(spec ? [`chown -- ${shq(spec)} "$tmp"`] : []),
    `chmod -- ${opts.mode.toString(8).padStart(4, '0')} "$tmp"`,
    'mv -f -- "$tmp" "$dst"',
    'tmp=',
  ].join('\n');
}
