import { osPhase } from './os-prep.js';
import { PHASE_ORDER, type Phase, type PhaseName } from './phase.js';

/** The phases kubestrap can run today, in run order. */
export const PHASES: readonly Phase[] = [osPhase];

export function selectPhases(names: readonly string[] | undefined): Phase[] {
  if (!names || names.length === 0) return [...PHASES];
  return PHASES.filter((p) => names.includes(p.name));
}

export function availablePhaseNames(): PhaseName[] {
  return PHASE_ORDER.filter((n) => PHASES.some((p) => p.name === n));
}
