import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { candidateLabRoots } from '../lab/cgroups.js';
import type { LabHost } from '../lab/index.js';

/**
 * CPU a lab host has used so far, in seconds, from its own cgroup (test/lab/cgroups.ts: each host's
 * systemd-nspawn and everything in it): cgroup v1's cpuacct.usage (ns), else v2's cpu.stat
 * usage_usec. What a run costs a host is the difference across it: its fact command, its probe and
 * whatever they start, plus the host's own background work meanwhile (its services' timers).
 */
export function hostCpuSeconds(lab: string, host: Pick<LabHost, 'machine'>): number {
  for (const root of candidateLabRoots(lab)) {
    const v1 = join(root, host.machine, 'cpuacct.usage');
    if (existsSync(v1)) return Number(readFileSync(v1, 'utf8').trim()) / 1e9;
    const v2 = join(root, host.machine, 'cpu.stat');
    if (existsSync(v2)) {
      const usec = /^usage_usec (\d+)$/m.exec(readFileSync(v2, 'utf8'))?.[1];
      if (usec) return Number(usec) / 1e6;
    }
  }
  throw new Error(`no CPU accounting for lab host ${host.machine} under /sys/fs/cgroup`);
}

/**
 * Per host, the CPU seconds `work` cost it: the host's CPU across `work`, less its CPU over as long
 * again right after, idle (a cluster's hosts keep working on their own: etcd, the stand-ins).
 */
export function hostCpuAcross<T>(lab: string, hosts: readonly LabHost[], work: () => T): { result: T; seconds: number[]; idle: number[] } {
  const read = () => hosts.map((h) => hostCpuSeconds(lab, h));
  const before = read();
  const started = Date.now();
  const result = work();
  const after = read();
  execFileSync('sleep', [String((Date.now() - started) / 1000)]);
  const idle = read().map((v, i) => v - after[i]!);
  return { result, seconds: after.map((v, i) => v - before[i]! - idle[i]!), idle };
}

/** `min-max (median)` of per-host figures, for one cell. */
export function spread(values: readonly number[], digits = 2): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `${sorted[0]!.toFixed(digits)}-${sorted.at(-1)!.toFixed(digits)} (${median.toFixed(digits)})`;
}
