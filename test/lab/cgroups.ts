import fs from 'node:fs';
import path from 'node:path';
import { CGROUP_PARENT } from './paths.js';
import { sleep } from './proc.js';

const CGROUP_FS = '/sys/fs/cgroup';

/**
 * Every hierarchy a host gets its own cgroup in. Without this all guests share one cgroup and their
 * systemds fight over it. Memory is included but nested under the caller's own memory cgroup (like
 * all others), so guests stay inside whatever limit the machine puts on us and the memory cgroups
 * that docker/containerd create inside a guest land under the lab's dir, where `down` finds them.
 */
const HIERARCHIES: Array<{ dir: string; key: string }> = [
  { dir: 'systemd', key: 'name=systemd' },
  { dir: 'unified', key: '' },
  { dir: 'cpu', key: 'cpu' },
  { dir: 'cpuacct', key: 'cpuacct' },
  { dir: 'cpuset', key: 'cpuset' },
  { dir: 'blkio', key: 'blkio' },
  { dir: 'devices', key: 'devices' },
  { dir: 'freezer', key: 'freezer' },
  { dir: 'pids', key: 'pids' },
  { dir: 'memory', key: 'memory' },
];

/** Our own cgroup path per hierarchy key, from /proc/self/cgroup (`ID:controllers:/path`). */
function selfCgroups(): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, keys = '', p = '/'] = line.split(':');
    for (const k of keys.split(',')) map.set(k, p);
  }
  return map;
}

/** Per hierarchy, the lab's cgroup dir: `/sys/fs/cgroup/<h>/<our path>/kubestrap-lab/<lab>`. */
export function labCgroupRoots(lab: string): string[] {
  const self = selfCgroups();
  return HIERARCHIES.filter((h) => fs.existsSync(path.join(CGROUP_FS, h.dir)) && self.has(h.key)).map((h) => path.join(CGROUP_FS, h.dir, self.get(h.key) ?? '/', CGROUP_PARENT, lab));
}

/** Where leftovers of a lab may be, also if it was created by a process in another cgroup. */
export function candidateLabRoots(lab: string, recorded: string[] = []): string[] {
  const atTop = HIERARCHIES.map((h) => path.join(CGROUP_FS, h.dir, CGROUP_PARENT, lab));
  return [...new Set([...recorded, ...labCgroupRoots(lab), ...atTop])].filter((d) => fs.existsSync(d));
}

export function hostCgroupDirs(labRoots: string[], machine: string): string[] {
  return labRoots.map((r) => path.join(r, machine));
}

/**
 * mkdir -p, copying cpuset.cpus/mems into each new cpuset level (a new cpuset starts empty and rejects
 * tasks). Another lab's `down` may remove the shared kubestrap-lab parent between our existence check
 * and our mkdir (ENOENT), or create it first (EEXIST): then the walk starts over.
 */
export function createCgroups(dirs: string[]): void {
  for (const dir of dirs) {
    const isCpuset = dir.startsWith(path.join(CGROUP_FS, 'cpuset') + '/');
    for (let attempt = 0; ; attempt++) {
      try {
        const missing: string[] = [];
        for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
        for (const d of missing) {
          fs.mkdirSync(d);
          if (isCpuset) {
            for (const f of ['cpuset.cpus', 'cpuset.mems']) {
              fs.writeFileSync(path.join(d, f), fs.readFileSync(path.join(path.dirname(d), f), 'utf8').trim());
            }
          }
        }
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (attempt >= 5 || (code !== 'ENOENT' && code !== 'EEXIST')) throw e;
      }
    }
  }
}

/** All cgroup dirs at and below `root`, deepest first. */
function treeBottomUp(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  walk(root);
  return out;
}

/** PIDs in any cgroup at or below the roots: processes that only the lab can have put there. */
export function pidsIn(roots: string[]): number[] {
  const pids = new Set<number>();
  for (const root of roots) {
    for (const d of treeBottomUp(root)) {
      try {
        for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
      } catch {
        // gone
      }
    }
  }
  return [...pids];
}

/** rmdir bottom-up; retried because a cgroup stays busy for a moment after its last process exits. */
export async function removeCgroupTrees(roots: string[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const failed: string[] = [];
    for (const root of roots) {
      for (const d of treeBottomUp(root)) {
        try {
          fs.rmdirSync(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(d);
        }
      }
    }
    if (failed.length === 0) break;
    if (attempt >= 30) throw new Error(`cgroups still busy: ${failed.slice(0, 3).join(', ')}; check '${failed[0]}/cgroup.procs' for processes`);
    await sleep(100);
  }
  for (const parent of new Set(roots.map((r) => path.dirname(r)))) await removeIfUnused(parent);
}

/** The shared kubestrap-lab parent, once no lab uses it; a just-emptied memory cgroup stays busy briefly. */
async function removeIfUnused(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      if (fs.readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory())) return; // another lab
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await sleep(100);
    }
  }
}
