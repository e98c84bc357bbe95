import type { UpgradeStep } from '../../phases/upgrade-view.js';

/**
 * The upgrade section of plan's (and apply's) text report: one line per step, in the order the run
 * takes them, `kube-apiserver v1.35.0 -> v1.36.0: m1, m2, m3 (one master at a time, ...)`. Hosts that
 * start from different versions (a run stopped halfway through a patch) each say theirs.
 */
export function upgradeLines(steps: readonly UpgradeStep[]): string[] {
  if (steps.length === 0) return [];
  return ['== upgrade ==', ...steps.map(stepLine)];
}

function stepLine(step: UpgradeStep): string {
  const from = [...new Set(step.hosts.map((h) => h.from))];
  const hosts = from.length === 1 ? step.hosts.map((h) => h.host) : step.hosts.map((h) => `${h.host} (${h.from})`);
  return `${step.components} ${from.join(', ')} -> ${step.to}: ${hosts.join(', ')} (${step.how})`;
}
