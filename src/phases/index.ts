import type { HostSpec } from '../config/cluster-spec.js';
import { checkOneLine } from '../config/validators.js';
import { HostError } from '../errors.js';
import type { HostFacts } from '../engine/facts.js';
import { osPhase } from './os-prep.js';
import { PHASE_ORDER, type Phase, type PhaseName } from './phase.js';
import { runtimePhase } from './runtime.js';

/** The phases kubestrap can run today, in run order. */
export const PHASES: readonly Phase[] = [osPhase, runtimePhase];

export function selectPhases(names: readonly string[] | undefined): Phase[] {
  if (!names || names.length === 0) return [...PHASES];
  return PHASES.filter((p) => names.includes(p.name));
}

/**
 * Every phase's fact-derived template variables for a host (all phases: any template may use them).
 * They come from what a host says about itself, so they obey the rule every property value obeys:
 * one line, or a carriage return in a host's output would start a new directive in a unit file.
 */
export function hostValues(host: HostSpec, facts: HostFacts | undefined, phases: readonly Phase[] = PHASES): Record<string, string> {
  const values = Object.assign({}, ...phases.map((p) => p.hostValues?.(host, facts) ?? {})) as Record<string, string>;
  for (const [key, value] of Object.entries(values)) {
    const problem = checkOneLine(value);
    if (problem) throw new HostError(host.name, `${key}, derived from what the host reports, is refused: ${problem.message}`, {}, 'check what the host reports for it; kubestrap puts such values into unit files only as one line of text');
  }
  return values;
}

export function availablePhaseNames(): PhaseName[] {
  return PHASE_ORDER.filter((n) => PHASES.some((p) => p.name === n));
}
