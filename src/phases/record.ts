import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { HOST_PATHS } from '../config/host-paths.js';
import type { FileResource, Resource } from '../engine/resource.js';
import type { PhaseName } from './phase-names.js';

/** The record a phase leaves on a host, e.g. /var/lib/kubestrap/record/etcd.json. */
export function recordPath(phase: PhaseName): string {
  return `${HOST_PATHS.recordDir}/${phase}.json`;
}

/**
 * What a phase installed on a host (units, files, folders, services, versions), written on the host
 * next to the rest of kubestrap's state, so that removing a node, resetting it or upgrading it works
 * from an exact list instead of guesses. It is derived from the phase's own resources, so it changes
 * exactly when what the phase installs changes; a no-op run leaves it alone.
 */
export function withRecord(phase: PhaseName, spec: ClusterSpec, host: HostSpec, resources: Resource[], extra: Record<string, string> = {}): Resource[] {
  const paths = (kind: 'file' | 'directory') => resources.flatMap((r) => (r.kind === kind ? [r.path] : [])).sort();
  const record = {
    cluster: spec.name,
    host: host.name,
    phase,
    kubernetes: spec.kubeVersion.tag,
    ...extra,
    services: resources.flatMap((r) => (r.kind === 'service' && r.running === true ? [r.name] : [])),
    files: paths('file'),
    directories: paths('directory'),
  };
  const file: FileResource = { kind: 'file', path: recordPath(phase), content: `${JSON.stringify(record, null, 2)}\n`, mode: 0o644, owner: 'root', group: 'root', restarts: [] };
  return [...resources, file];
}
