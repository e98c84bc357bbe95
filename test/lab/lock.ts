import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LOCK_DIR } from './paths.js';

/**
 * Cross-process mutual exclusion (vitest workers, the CLI, the demo may all touch one lab).
 *
 * The lock is held by a `flock` child process that waits on its stdin: the kernel releases it when
 * that child dies, and the child dies when we close stdin or when this process dies for any reason
 * (the pipe closes). So a crash can never leave a stale lock, which a PID-in-a-file lock cannot promise.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>, timeoutSec = 900): Promise<T> {
  const held = await takeLock(name, timeoutSec);
  if (!held) throw new Error(`could not take lock ${lockFile(name)} within ${timeoutSec}s; another lab command is still running`);
  try {
    return await fn();
  } finally {
    held.release();
  }
}

export interface HeldLock {
  release(): void;
}

function lockFile(name: string): string {
  return path.join(LOCK_DIR, `${name}.lock`);
}

/**
 * Takes the lock, waiting up to `timeoutSec` (0: do not wait). Undefined when it is held elsewhere.
 * The caller keeps it as long as it likes (e.g. a whole test run) and it still dies with the caller.
 */
export async function takeLock(name: string, timeoutSec: number): Promise<HeldLock | undefined> {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const wait = timeoutSec > 0 ? ['-w', String(timeoutSec)] : ['-n'];
  const child = spawn('flock', ['-x', ...wait, lockFile(name), 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const got = await new Promise<boolean>((resolve, reject) => {
    child.stdout.once('data', () => resolve(true));
    child.once('error', reject);
    child.once('exit', () => resolve(false));
  });
  if (!got) return undefined;
  child.removeAllListeners('exit');
  return { release: () => child.stdin.end() };
}
