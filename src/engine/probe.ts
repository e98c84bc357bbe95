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
  const { single, batches } = groupForProbe(resources);
  return sectionedScript([
    // Prints nothing; sets the variable the unit probes read.
    ['units', unitStatesPrelude(units) || ':'],
    ...[...batches].map(([kind, rs]) => [`b-${kind}`, kindOf(rs[0]!).batch!.probe(rs)] as const),
    ...single.map(({ r, i }) => [`r${i}`, kindOf(r).probe(r, ctx)] as const),
    [PENDING_KEY, `cat ${PENDING_RESTARTS_FILE}`],
  ]);
}

/** Resources whose kind probes in batches, by kind; the others one section each (keyed by their index). */
function groupForProbe(resources: readonly Resource[]): { single: Array<{ r: Resource; i: number }>; batches: Map<string, Resource[]> } {
  const single: Array<{ r: Resource; i: number }> = [];
  const batches = new Map<string, Resource[]>();
  resources.forEach((r, i) => {
    if (kindOf(r).batch) batches.set(r.kind, [...(batches.get(r.kind) ?? []), r]);
    else single.push({ r, i });
  });
  return { single, batches };
}

export function parseProbe(stdout: string, resources: readonly Resource[]): ProbeResult {
  const sections = parseSections(stdout);
  const batched = new Map<Resource, string>();
  for (const [kind, rs] of groupForProbe(resources).batches) {
    const split = kindOf(rs[0]!).batch!.split(sections.get(`b-${kind}`) ?? '', rs);
    rs.forEach((r, j) => batched.set(r, split[j] ?? ''));
  }
  const observed = new Map<string, string>();
  resources.forEach((r, i) => observed.set(resourceId(r), batched.get(r) ?? sections.get(`r${i}`) ?? ''));
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
