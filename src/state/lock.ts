import { linkSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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

/**
 * An exclusive lock per cluster, so two runs never change one cluster at once. The lock file is
 * created complete (written aside, then hard-linked into place, which fails if it exists), so a
 * reader never sees a half-written holder. A lock left by a dead process on this machine is stale
 * and taken over; one held by a live process, or by another machine, is refused with its holder.
 */
export function acquireLock(file: string, command: string): Lock {
  const holder: LockHolder = { pid: process.pid, host: hostname(), user: safeUser(), command, startedAt: new Date().toISOString() };
  const aside = `${file}.${process.pid}`;
  writeFileSync(aside, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
        const current = readHolder(file);
        if (!isStale(current, file)) throw refused(file, current);
        rmSync(file, { force: true });
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refused(file, readHolder(file));
    throw err;
  } finally {
    rmSync(aside, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (readHolder(file)?.pid === process.pid) unlinkSync(file);
    } catch {
      /* already gone */
    }
  };
  process.on('exit', release);
  return { file, release };
}

function readHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

function isStale(holder: LockHolder | undefined, file: string): boolean {
  if (!holder) {
    // Unreadable: only a crash while writing makes that; give a live writer a moment.
    return Date.now() - statSync(file).mtimeMs > 10_000;
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
  const who = holder
    ? `pid ${holder.pid} (${holder.command}, user ${holder.user} on ${holder.host}, since ${holder.startedAt})`
    : 'another run (its lock file is unreadable)';
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
