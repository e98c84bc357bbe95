/**
 * The ports upstream's components listen on by default (etcd's are IANA's). kubestrap's units keep
 * them; the component catalog (src/components/) says whose each one is and what it serves.
 */
export const DEFAULT_PORTS = {
  etcdClient: 2379,
  etcdPeer: 2380,
  /** The secure port that serves /healthz (10252, the insecure one, left in 1.24). */
  kubeControllerManager: 10257,
  kubeScheduler: 10259,
  /** The kubelet's API (logs, exec), which the API server calls. */
  kubelet: 10250,
  kubeletHealthz: 10248,
  kubeProxyHealthz: 10256,
  kubeProxyMetrics: 10249,
} as const;
