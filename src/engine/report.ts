import type { KubestrapError } from '../errors.js';
import type { HostStats } from '../ssh/remote-host.js';
import type { Change } from './change.js';
import type { Restart } from './handlers.js';

export type HostStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

/** One host in one phase: what differed, what was done, how it ended. */
export interface PhaseHostReport {
  phase: string;
  host: string;
  status: HostStatus;
  /** plan: what would change; apply: what changed. Cluster actions the host ran are among them. */
  changes: Change[];
  /** plan: restarts that would happen (including those a later phase does); apply: restarts done. */
  restarts: Restart[];
  /** apply: changes the failure left undone. */
  notApplied: Change[];
  /** plan only: current content of changed text files, for diffs (null: no such file). */
  currentContent: Map<string, string | null>;
  error?: KubestrapError;
  durationMs: number;
}

export interface HostReport {
  host: string;
  address: string;
  status: HostStatus;
  /** What the host runs, once its facts are read: release and package manager, `Rocky Linux 9.6 (dnf)`. */
  system?: string;
  error?: KubestrapError;
  stats?: HostStats;
}

export interface RunReport {
  mode: 'plan' | 'apply';
  phases: string[];
  hosts: HostReport[];
  results: PhaseHostReport[];
  /** Preflight problems: when there are any, nothing was changed on any host. */
  refused: KubestrapError[];
  /** Wall-clock time of each stage run, in order: `connect` (connect, read facts, preflight, probe), then each phase. */
  stages: StageTime[];
  durationMs: number;
}

export interface StageTime {
  name: string;
  durationMs: number;
}

export function runSucceeded(report: RunReport): boolean {
  return report.refused.length === 0 && report.hosts.every((h) => h.status !== 'failed' && h.status !== 'unreachable');
}
