import type { RecordedPhase, RecordFields } from './host-record.js';
import { resourceId, type AbsentResource, type RecordResource, type Resource } from './resource.js';

/**
 * What a phase installed on a host is what its record entry says (host-record.ts): comparing that
 * with what the phase wants now says what to remove. Recorded are the files, binaries, folders and
 * running services a phase wants; packages are not (a package a host already had, iptables say,
 * must not go because kubestrap once asked for it: a phase that wants one gone says so itself).
 */
export function withInstalled(
  phase: string,
  wanted: readonly Resource[],
  recorded: RecordedPhase | undefined,
  fields: RecordFields = {},
  /** Ids other phases of the run want: what moved to another phase stays. */
  wantedElsewhere: ReadonlySet<string> = new Set(),
): Resource[] {
  const installed = wanted.flatMap(installedEntry);
  const wantedIds = new Set(wanted.map(resourceId));
  const stale = (recorded?.ids ?? []).filter((id) => !wantedIds.has(id) && !wantedElsewhere.has(id));
  const record: RecordResource = {
    kind: 'record',
    phase,
    ids: installed.map((e) => e.id).sort(),
    restarts: Object.fromEntries(installed.filter((e) => e.restarts.length).map((e) => [e.id, e.restarts])),
    fields,
  };
  const keep = record.ids.length > 0 || Object.keys(fields).length > 0 || recorded !== undefined;
  return [...absentFor(stale, recorded?.restarts ?? {}), ...wanted, ...(keep ? [record] : [])];
}

/** Everything a phase's record entry lists as absent resources, but what `keep` spares: what a teardown removes. */
export function removalOf(recorded: RecordedPhase | undefined, keep: (id: string) => boolean = () => false): AbsentResource[] {
  return absentFor(
    (recorded?.ids ?? []).filter((id) => !keep(id)),
    recorded?.restarts ?? {},
  );
}

function installedEntry(r: Resource): Array<{ id: string; restarts: string[] }> {
  switch (r.kind) {
    case 'file':
    case 'localFile':
      return [{ id: resourceId(r), restarts: r.restarts }];
    case 'directory':
      return [{ id: resourceId(r), restarts: [] }];
    case 'service':
      return r.running === true ? [{ id: resourceId(r), restarts: [] }] : [];
    default:
      return [];
  }
}

const REMOVAL_ORDER: ReadonlyArray<AbsentResource['of']> = ['service', 'file', 'directory'];

/**
 * Stale entries as absent resources, in the order removal needs: services stopped before their
 * unit files and binaries go, files before the folders that hold them, deeper folders first.
 */
function absentFor(stale: readonly string[], restarts: Readonly<Record<string, string[]>>): AbsentResource[] {
  const parsed = stale.flatMap((id): AbsentResource[] => {
    const colon = id.indexOf(':');
    const of = id.slice(0, colon) as AbsentResource['of'];
    if (!REMOVAL_ORDER.includes(of)) return [];
    const name = id.slice(colon + 1);
    return [{ kind: 'absent', of, name, ...(restarts[id]?.length ? { restarts: restarts[id] } : {}) }];
  });
  return parsed.sort((a, b) => REMOVAL_ORDER.indexOf(a.of) - REMOVAL_ORDER.indexOf(b.of) || (a.of === 'directory' ? b.name.length - a.name.length : 0));
}

/**
 * A folder counts as empty when all it holds is what the run removes before it on the same host:
 * files and folders made absent by this phase or an earlier one (a reset empties /etc/kubernetes
 * phase by phase, and the phase that made the folder comes last). `phases` are one host's
 * resources in run order; the absent folders are marked in place.
 */
export function markEmptiedFolders(phases: ReadonlyArray<readonly Resource[]>): void {
  const removed: string[] = [];
  for (const resources of phases) {
    const absent = resources.filter((r): r is AbsentResource => r.kind === 'absent' && (r.of === 'file' || r.of === 'directory'));
    removed.push(...absent.map((r) => r.name));
    for (const dir of absent.filter((r) => r.of === 'directory' && !r.recursive)) {
      const inside = removed.filter((name) => name.startsWith(`${dir.name}/`) && !name.slice(dir.name.length + 1).includes('/'));
      if (inside.length) dir.emptiedBy = inside;
    }
  }
}
