import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { LockError } from '../errors.js';

/** Who holds a cluster's lock; written into the lock file so a refused run can name it. */
export interface LockHolder {
  pid: number;
  host: string;
  user: string;
  command: string;
  startedAt: string;
}

export interface Lock {
  file: string;
  release(): void;
}

/** A lock file as read at one moment: its bytes and the inode they belong to. */
interface Seen {
  text: string;
  ino: number;
  mtimeMs: number;
}

/** How long a claim on a stale lock may stand before we conclude that its claimant died. */
const CLAIM_TIMEOUT_MS = 10_000;
/** Rounds of "someone else is taking the stale lock over right now": enough for any real race. */
const MAX_ROUNDS = 200;

/**
 * An exclusive lock per cluster, so two runs never change one cluster at once. The lock file is
 * created complete (written aside, then hard-linked into place, which fails if it exists), so a
 * reader never sees a half-written holder. A lock left by a dead process on this machine is stale
 * and taken over; one held by a live process, or by another machine, is refused with its holder.
 *
 * Taking over must be atomic, or two runs that both judged the same lock stale could each remove
 * what the other just created. So a run first claims the stale lock by hard-linking it to a name
 * derived from its inode (`lock.takeover-<inode>`): link() fails if the name exists, so exactly one
 * run holds the claim, and while it does nobody else may remove that inode. Through the claim it
 * checks it holds the very file it judged stale (same inode, same bytes), removes the lock, drops
 * the claim, and competes for the lock with a plain link() like everyone else. Exactly one wins.
 */
export function acquireLock(file: string, command: string): Lock {
  const holder: LockHolder = { pid: process.pid, host: hostname(), user: safeUser(), command, startedAt: new Date().toISOString() };
  const aside = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  // wx: a fresh file, never through a link someone planted.
  writeFileSync(aside, `${JSON.stringify(holder)}\n`, { mode: 0o600, flag: 'wx' });
  const ino = statSync(aside).ino;
  try {
    for (let round = 0; !tryLink(aside, file); round++) {
      const seen = readLockFile(file);
      if (!seen) continue; // released between our link and our read: try again
      const current = parseHolder(seen.text);
      if (!isStale(current, seen) || round >= MAX_ROUNDS) throw refused(file, current);
      removeStale(file, seen);
    }
  } finally {
    rmSync(aside, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      // Only our own file: the inode we linked, still naming us.
      const seen = readLockFile(file);
      if (seen?.ino === ino && parseHolder(seen.text)?.pid === process.pid) unlinkSync(file);
    } catch {
      /* already gone */
    }
  };
  process.on('exit', release);
  return { file, release };
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Removes the stale lock we saw, if it is still there and nobody else is removing it. */
function removeStale(file: string, seen: Seen): void {
  const claim = `${file}.takeover-${seen.ino}`;
  try {
    linkSync(file, claim);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // the lock is gone already
    if (code !== 'EEXIST') throw err;
    // Another run holds the claim and is finishing its takeover; if it died doing so, say what to remove.
    const age = claimAgeMs(claim);
    if (age !== undefined && age > CLAIM_TIMEOUT_MS) {
      throw new LockError(file, `a takeover of the stale lock was interrupted (${claim} is left)`, `no run holds the cluster: remove ${claim} and ${file}`);
    }
    sleepMs(5);
    return;
  }
  try {
    const claimed = readLockFile(claim);
    // The claim pins the inode it names: if it is the lock we judged stale, only we may remove it now.
    if (claimed && claimed.ino === seen.ino && claimed.text === seen.text) unlinkSync(file);
  } finally {
    unlinkSync(claim);
  }
}

function claimAgeMs(claim: string): number | undefined {
  try {
    // link() sets the inode's ctime: the moment the claim was made.
    return Date.now() - statSync(claim).ctimeMs;
  } catch {
    return undefined;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The file's bytes and inode from one open file, so they belong together; undefined when it is gone. */
function readLockFile(file: string): Seen | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    return { text: readFileSync(fd, 'utf8'), ino: stat.ino, mtimeMs: stat.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    return JSON.parse(text) as LockHolder;
  } catch {
    return undefined;
  }
}

function isStale(holder: LockHolder | undefined, seen: Seen): boolean {
  if (!holder) {
    // Unreadable: only a crash while writing makes that; give a live writer a moment.
    return Date.now() - seen.mtimeMs > 10_000;
  }
  return holder.host === hostname() && !processAlive(holder.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function refused(file: string, holder: LockHolder | undefined): LockError {
  const who = holder ? `pid ${holder.pid} (${holder.command}, user ${holder.user} on ${holder.host}, since ${holder.startedAt})` : 'another run (its lock file is unreadable)';
  const hint =
    holder && holder.host !== hostname()
      ? `wait for it to finish; if that run is gone, remove ${file}`
      : 'wait for it to finish, or stop it; a lock left by a process that died is taken over automatically';
  return new LockError(file, `the cluster is locked by ${who}`, hint);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
