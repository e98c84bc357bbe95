import type { HostSpec } from '../config/cluster-spec.js';
import type { HostFacts } from '../engine/facts.js';
import { osPhase } from './os-prep.js';
import { PHASE_ORDER, type Phase, type PhaseName } from './phase.js';

/** The phases kubestrap can run today, in run order. */
export const PHASES: readonly Phase[] = [osPhase];

export function selectPhases(names: readonly string[] | undefined): Phase[] {
  if (!names || names.length === 0) return [...PHASES];
  return PHASES.filter((p) => names.includes(p.name));
}

/** Every phase's fact-derived template variables for a host (all phases: any template may use them). */
export function hostValues(host: HostSpec, facts: HostFacts | undefined): Record<string, string> {
  return Object.assign({}, ...PHASES.map((p) => p.hostValues?.(host, facts) ?? {})) as Record<string, string>;
}

export function availablePhaseNames(): PhaseName[] {
  return PHASE_ORDER.filter((n) => PHASES.some((p) => p.name === n));
}
