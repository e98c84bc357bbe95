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
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const file = path.join(LOCK_DIR, `${name}.lock`);
  const child = spawn('flock', ['-x', '-w', String(timeoutSec), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.once('data', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`could not take lock ${file} within ${timeoutSec}s (flock exit ${code}): ${err.trim()}; another lab command is still running`)),
    );
  });
  try {
    return await fn();
  } finally {
    child.removeAllListeners('exit');
    child.stdin.end();
  }
}
