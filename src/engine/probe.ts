import type { Change } from './change.js';
import { kindOf } from './kinds/index.js';
import type { Kind, KindContext } from './kinds/kind.js';
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
    ...[...batches].map(([kind, { batch, rs }]) => [`b-${kind}`, batch.probe(rs, ctx)] as const),
    ...single.map(({ r, i, probe }) => [`r${i}`, probe(r, ctx)] as const),
    // Usually absent: no process then, and the probe ends with status 0.
    [PENDING_KEY, `[ ! -f ${PENDING_RESTARTS_FILE} ] || cat ${PENDING_RESTARTS_FILE}`],
  ]);
}

type Batch = NonNullable<Kind<Resource>['batch']>;

/** Resources whose kind probes in batches, by kind; the others one section each (keyed by their index). */
function groupForProbe(resources: readonly Resource[]): {
  single: Array<{ r: Resource; i: number; probe: (r: Resource, ctx: KindContext) => string }>;
  batches: Map<string, { batch: Batch; rs: Resource[] }>;
} {
  const single: Array<{ r: Resource; i: number; probe: (r: Resource, ctx: KindContext) => string }> = [];
  const batches = new Map<string, { batch: Batch; rs: Resource[] }>();
  resources.forEach((r, i) => {
    const kind = kindOf(r);
    if (kind.batch) {
      const group = batches.get(r.kind) ?? { batch: kind.batch, rs: [] };
      group.rs.push(r);
      batches.set(r.kind, group);
    } else {
      single.push({ r, i, probe: kind.probe });
    }
  });
  return { single, batches };
}

export function parseProbe(stdout: string, resources: readonly Resource[]): ProbeResult {
  const sections = parseSections(stdout);
  const batched = new Map<Resource, string>();
  for (const [kind, { batch, rs }] of groupForProbe(resources).batches) {
    const split = batch.split(sections.get(`b-${kind}`) ?? '', rs);
    rs.forEach((r, j) => batched.set(r, split[j] ?? ''));
  }
  const observed = new Map<string, string>();
  resources.forEach((r, i) => observed.set(resourceId(r), batched.get(r) ?? sections.get(`r${i}`) ?? ''));
  const pendingRestarts = (sections.get(PENDING_KEY) ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
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
