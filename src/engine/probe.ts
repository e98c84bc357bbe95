import type { Change } from './change.js';
import { kindOf } from './kinds/index.js';
import type { KindContext } from './kinds/kind.js';
import { resourceId, type Resource } from './resource.js';
import { parseSections, sectionedScript } from './sections.js';
import { PENDING_RESTARTS_FILE } from './pending-restarts.js';
import { unitStatesPrelude } from './kinds/unit-state.js';

/** The state of a list of resources, read in one remote command. */
export interface ProbeResult {
  /** Probe output per resource id. */
  observed: Map<string, string>;
  /** Services an earlier, interrupted run still owes a restart. */
  pendingRestarts: string[];
}

const PENDING_KEY = 'pending-restarts';

export function probeScript(resources: readonly Resource[], ctx: KindContext): string {
  const units = resources.flatMap((r) => kindOf(r).units?.(r) ?? []);
  return sectionedScript([
    // Prints nothing; sets the variable the unit probes read.
    ['units', unitStatesPrelude(units) || ':'],
    ...resources.map((r, i) => [`r${i}`, kindOf(r).probe(r, ctx)] as const),
    [PENDING_KEY, `cat ${PENDING_RESTARTS_FILE}`],
  ]);
}

export function parseProbe(stdout: string, resources: readonly Resource[]): ProbeResult {
  const sections = parseSections(stdout);
  const observed = new Map<string, string>();
  resources.forEach((r, i) => observed.set(resourceId(r), sections.get(`r${i}`) ?? ''));
  const pendingRestarts = (sections.get(PENDING_KEY) ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  return { observed, pendingRestarts: [...new Set(pendingRestarts)] };
}

/** What must change for the host to match `resources`, in the order the phase gave them. */
export function diffResources(resources: readonly Resource[], probe: ProbeResult, ctx: KindContext): Change[] {
  return resources.flatMap((r) => {
    const id = resourceId(r);
    const change = kindOf(r).diff(r, probe.observed.get(id) ?? '', id, ctx);
    return change ? [change] : [];
  });
}
