import { posix } from 'node:path';
import { HostError } from '../errors.js';
import { defineFact, readFact } from '../engine/facts.js';
import type { ClusterContext, ClusterHost } from '../phases/context.js';

/** Free space a folder needs on a host (its file system may not exist yet: the nearest mount counts). */
export interface DiskNeed {
  path: string;
  bytes: number;
  what: string;
}

interface Mount {
  freeBytes: number;
  mountPoint: string;
}

/** Every mounted file system's free KiB and mount point: df's POSIX table, cut here rather than by an awk on the host. */
export const DISK_FACT = defineFact('disk-free', 'df -Pk', (out) => parseMounts(out ?? ''));

/**
 * `df -Pk`'s rows (`Filesystem 1024-blocks Used Available Capacity Mounted-on`, the capacity `-` for a
 * file system of no size), or rows of `AVAILABLE MOUNT` alone.
 */
export function parseMounts(text: string): Mount[] {
  return text.split('\n').flatMap((line) => {
    const m = /\s\d+\s+\d+\s+(\d+)\s+(?:\d+%|-)\s+(\/.*)$/.exec(line.trim()) ?? /^(\d+) (\/.*)$/.exec(line.trim());
    return m ? [{ freeBytes: Number(m[1]) * 1024, mountPoint: m[2]! }] : [];
  });
}

/** The mount a path lives on: the longest mount point that is a prefix of it. */
export function mountOf(path: string, mounts: readonly Mount[]): Mount | undefined {
  const inside = (m: Mount) => m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
  return mounts.filter(inside).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
}

/** Needs on one file system add up: binaries and etcd data on / need both. */
export function diskProblems(ctx: ClusterContext, needsOf: (h: ClusterHost) => DiskNeed[]): HostError[] {
  return ctx.hosts.flatMap((h) => {
    const mounts = readFact(h.facts, DISK_FACT);
    if (mounts.length === 0) return [];
    const byMount = new Map<string, { mount: Mount; needs: DiskNeed[] }>();
    for (const need of needsOf(h)) {
      const mount = mountOf(posix.normalize(need.path), mounts);
      if (!mount) continue;
      const entry = byMount.get(mount.mountPoint) ?? { mount, needs: [] };
      entry.needs.push(need);
      byMount.set(mount.mountPoint, entry);
    }
    return [...byMount.values()].flatMap(({ mount, needs }) => {
      const total = needs.reduce((n, x) => n + x.bytes, 0);
      if (mount.freeBytes >= total) return [];
      return [
        new HostError(
          h.host.name,
          `${mount.mountPoint} has ${mib(mount.freeBytes)} free, but ${needs.map((n) => `${n.what} in ${n.path} (${mib(n.bytes)})`).join(' and ')} need ${mib(total)}`,
          {},
          `free space on ${mount.mountPoint} of ${h.host.name}, or mount a larger disk there`,
        ),
      ];
    });
  });
}

function mib(bytes: number): string {
  return `${Math.ceil(bytes / 1024 / 1024)} MiB`;
}
