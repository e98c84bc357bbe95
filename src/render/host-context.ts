import { API_LB_STATS_PORT, COMPONENTS, runsOn } from '../components/catalog.js';
import { HOST_PATHS, PKI_PATHS } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { clusterImage, minorAtLeast, parseVersion } from '../upstream/index.js';

/**
 * What a template sees for one host: every property as an UPPER_CASE string (as in gen-config.sh),
 * plus a few lower-case helpers for what flat strings cannot say (lists of members, versions).
 */
export const HELPER_NAMES = ['host', 'cluster', 'paths', 'pki', 'ports', 'images', 'kube_at_least', 'etcd_at_least'] as const;

interface HostRef {
  name: string;
  ip: string;
}

export function hostContext(spec: ClusterSpec, host: HostSpec): Record<string, unknown> {
  const etcdVersion = parseVersion(host.values.ETCD_VERSION ?? '');
  return {
    ...host.values,
    host: {
      ...hostRef(host),
      roles: host.roles,
      etcd: host.roles.includes('etcd'),
      master: host.roles.includes('master'),
      worker: host.roles.includes('worker'),
      // flanneld runs here, so the host reaches pods (an API server, its aggregated APIs and webhooks).
      on_pod_network: runsOn(spec, host, 'flanneld'),
    },
    cluster: clusterRefs(spec),
    paths: HOST_PATHS,
    pki: PKI_PATHS,
    ports: { etcdClient: COMPONENTS.etcd.service.ports.client, etcdPeer: COMPONENTS.etcd.service.ports.peer, apiLbStats: API_LB_STATS_PORT },
    // The images that go with the cluster's Kubernetes minor (see upstream/kubernetes.ts).
    images: { pause: clusterImage(spec.kubeVersion, spec.values.K8S_IMAGE_REGISTRY!, 'pause').ref, coredns: clusterImage(spec.kubeVersion, spec.values.K8S_IMAGE_REGISTRY!, 'coredns').ref },
    kube_at_least: (v: string) => minorAtLeast(spec.kubeVersion, v),
    etcd_at_least: (v: string) => (etcdVersion ? minorAtLeast(etcdVersion, v) : false),
  };
}

function hostRef(h: HostSpec): HostRef {
  return { name: h.name, ip: h.nodeIp };
}

/**
 * The cluster's host lists, made once per spec and shared by every host's context (templates only
 * read them): made per host, they cost each host the whole inventory, 1000 x 1000 refs for 1000 hosts.
 */
const clusterRefsOf = new WeakMap<ClusterSpec, Record<string, unknown>>();

function clusterRefs(spec: ClusterSpec): Record<string, unknown> {
  let refs = clusterRefsOf.get(spec);
  if (!refs) {
    const withRole = (role: HostSpec['roles'][number]) => spec.hosts.filter((h) => h.roles.includes(role)).map(hostRef);
    refs = { name: spec.name, hosts: spec.hosts.map(hostRef), etcd: withRole('etcd'), masters: withRole('master'), workers: withRole('worker') };
    clusterRefsOf.set(spec, refs);
  }
  return refs;
}
