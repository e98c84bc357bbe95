import { kubectl } from '../../components/clients.js';
import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import type { OpenHost } from '../../engine/session.js';
import { healthCheckImage } from '../../upstream/index.js';
import type { HealthRow } from '../checks.js';
import { podCheckRows } from './rows.js';
import { POD_CHECK_SECONDS, POD_CHECKS, podCheckScript } from './script.js';

/** The nodes the pod check runs a pod on: every host that runs a kubelet, in inventory order. */
export function podCheckNodes(spec: ClusterSpec, among?: readonly string[]): string[] {
  return spec.hosts.filter((h) => h.roles.includes('worker') && (!among || among.includes(h.name))).map((h) => h.name);
}

/** The check's script for kubectl on `master`. */
export function podCheckFor(spec: ClusterSpec, master: HostSpec, nodes: readonly string[]): string {
  return podCheckScript({
    nodes: nodes.map((name) => ({ name })),
    image: healthCheckImage(spec.values.HEALTH_CHECK_IMAGE!).ref,
    clusterDomain: spec.values.CLUSTER_DOMAIN!,
    kubectl: kubectl(master),
  });
}

/** `health --deep`: the pod check as its own command on the master (it outlasts a check's usual limit). */
export async function runPodCheck(spec: ClusterSpec, master: OpenHost<HostSpec> | undefined): Promise<HealthRow[]> {
  const nodes = podCheckNodes(spec);
  if (nodes.length === 0) return [];
  if (!master) return nodes.map((n) => ({ check: POD_CHECKS.start, host: n, ok: false, detail: 'not checked: no master answered' }));
  try {
    const r = await master.remote.run(podCheckFor(spec, master.host, nodes), { timeoutMs: (POD_CHECK_SECONDS + 30) * 1000 });
    return podCheckRows(
      r.stdout,
      nodes,
      r.code === 0
        ? undefined
        : `${r.stderr}\n${r.stdout
            .split('\n')
            .filter((l) => !l.startsWith('ks-row'))
            .join('\n')}`.trim() || `exit code ${r.code}`,
    );
  } catch (err) {
    return podCheckRows('', nodes, err instanceof Error ? err.message : String(err));
  }
}
