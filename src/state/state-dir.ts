import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A cluster's local state: `known_hosts`, `logs/`, the lock (and later `pki/`, `cache/`). Private to
 * the operator: 0700, since it will hold keys.
 */
export interface StateDir {
  root: string;
  lockFile: string;
  logsDir: string;
}

export function openStateDir(root: string): StateDir {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const logsDir = join(root, 'logs');
  mkdirSync(logsDir, { recursive: true, mode: 0o700 });
  return { root, lockFile: join(root, 'lock'), logsDir };
}
