import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the lab keeps things. Caches live outside the clone so that every clone, worktree and CI run
 * on the machine shares one rootfs and one apt repo (building them is the slow part). Per-lab state
 * lives on disk, not in /run, so `down` can still find what a crashed process left behind.
 */
export const CACHE_DIR = process.env.KUBESTRAP_LAB_CACHE ?? '/var/cache/kubestrap-lab';
export const STATE_ROOT = process.env.KUBESTRAP_LAB_STATE ?? '/var/lib/kubestrap-lab';
/** Locks live apart from the state dir so `down` can delete the state dir while holding the lock. */
export const LOCK_DIR = '/run/lock/kubestrap-lab';
/** Each lab's cgroups sit under this name in every hierarchy. */
export const CGROUP_PARENT = 'kubestrap-lab';

export const LAB_SRC_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(LAB_SRC_DIR, '..', '..');
export const STANDINS_DIR = path.join(REPO_ROOT, 'test', 'standins');

export function labDir(name: string): string {
  return path.join(STATE_ROOT, name);
}

export function hostDir(lab: string, machine: string): string {
  return path.join(labDir(lab), 'hosts', machine);
}

export function stateFile(lab: string): string {
  return path.join(labDir(lab), 'state.json');
}
