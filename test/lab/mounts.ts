import fs from 'node:fs';
import { sh, shTry } from './run.js';

/** Mount points at or below `dir`, deepest first (the order they must be unmounted in). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.replace(/\/+$/, '');
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMount)
    .filter((p) => p === prefix || p.startsWith(prefix + '/'));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function isMounted(dir: string): boolean {
  return mountsUnder(dir).includes(dir.replace(/\/+$/, ''));
}

/**
 * Unmounts everything at or below `dir`. Callers stop the processes using the mounts first: a lazy
 * unmount is only the fallback, because unmounting under a running guest "succeeds" and then deleting
 * the upper dir would destroy the guest's disk.
 */
export async function unmountUnder(dir: string): Promise<void> {
  for (const point of mountsUnder(dir)) {
    const r = await shTry`umount ${point}`;
    if (r.exitCode !== 0) await sh`umount -l ${point}`;
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted after umount: ${left.join(', ')}; find users with 'fuser -vm ${left[0]}'`);
}
