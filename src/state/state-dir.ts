import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { StateError } from '../errors.js';

/**
 * A cluster's local state: `known_hosts`, `logs/`, the lock (and later `pki/`, `cache/`). Private to
 * the operator: 0700, since it will hold keys.
 *
 * Whoever can write into it can plant host keys (and with them, answer for any host), take the lock
 * or redirect a file kubestrap writes through a link. So, as OpenSSH's StrictModes does for ~/.ssh,
 * a state folder, its logs folder, or a known_hosts file (and its folder) that belongs to someone
 * else or that group or others may write is refused, with the command that fixes it.
 */
export interface StateDir {
  root: string;
  lockFile: string;
  logsDir: string;
}

export function openStateDir(root: string, knownHostsFile: string = join(root, 'known_hosts')): StateDir {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const logsDir = join(root, 'logs');
  mkdirSync(logsDir, { recursive: true, mode: 0o700 });
  for (const path of new Set([root, logsDir, dirname(knownHostsFile), knownHostsFile])) checkPrivate(path);
  return { root, lockFile: join(root, 'lock'), logsDir };
}

/** For messages: what someone else who can write a private path could do, and the way around it. */
export interface PrivatePath {
  risk: string;
  alternative: string;
}

const STATE_PATH: PrivatePath = { risk: 'plant host keys or take the lock', alternative: 'use a state folder of your own' };

/** Refuses a path (if it exists) that someone other than this user or root owns, or that group or others may write. */
export function checkPrivate(path: string, { risk, alternative }: PrivatePath = STATE_PATH): void {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const uid = process.getuid?.();
  if (uid === undefined) return; // not a POSIX system: nothing to compare with
  const kind = stat.isDirectory() ? 'folder' : 'file';
  if (stat.uid !== uid && stat.uid !== 0) {
    throw new StateError(path, `this ${kind} belongs to uid ${stat.uid}, not to you (uid ${uid}) or root: its owner could ${risk}`, `chown ${uid} ${path} (or ${alternative})`);
  }
  if ((stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
    throw new StateError(path, `this ${kind} is writable by ${(stat.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${mode}): whoever can write it could ${risk}`, `chmod go-w ${path}`);
  }
}
