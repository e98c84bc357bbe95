import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';

/** The names of the hosts of the spec that have `role`, in inventory order. */
export function namesWith(spec: ClusterSpec, role: HostSpec['roles'][number]): string[] {
  return spec.hosts.filter((h) => h.roles.includes(role)).map((h) => h.name);
}
