import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { ETCD_CLIENT_PORT } from '../config/cluster-spec.js';
import type { ReadinessCheck, ServiceResource } from '../engine/resource.js';
import { PKI_PATHS } from '../pki/host-layout.js';
import { shJoin, shq } from '../ssh/quote.js';

/**
 * The cluster's services, and how kubestrap knows each one is serving after a start or restart.
 * One place, so a phase that only feeds a service (the pki phase writes etcd's certificates) restarts
 * it the same way as the phase that runs it: with its readiness check, one host at a time where a
 * quorum or availability depends on it.
 */
export type ComponentService = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubelet' | 'kube-proxy' | 'flanneld';

/** Ports the components serve their health on (upstream's defaults, which the units keep). */
export const HEALTH_PORTS = {
  controllerManager: 10257,
  scheduler: 10259,
  kubelet: 10250,
  kubeletHealthz: 10248,
  kubeProxyHealthz: 10256,
  kubeProxyMetrics: 10249,
} as const;

const CURL = 'curl -s --max-time 3 -o /dev/null';

export function binary(host: HostSpec, name: string): string {
  return `${host.values.BIN_PATH}/${name}`;
}

/**
 * Who etcdctl is on an etcd member (etcd takes the certificate's CN as the user): the health check
 * reads health, members and flannel's leases; the administrator (etcd's root) manages users, roles,
 * members and flannel's network.
 */
const ETCDCTL_IDENTITIES = {
  healthcheck: { cert: PKI_PATHS.etcdHealthcheckClientCert, key: PKI_PATHS.etcdHealthcheckClientKey },
  admin: { cert: PKI_PATHS.etcdAdminClientCert, key: PKI_PATHS.etcdAdminClientKey },
} as const;

export type EtcdctlIdentity = keyof typeof ETCDCTL_IDENTITIES;

/** etcdctl on an etcd member, as `identity`. */
export function etcdctl(host: HostSpec, endpoints: string, identity: EtcdctlIdentity = 'healthcheck'): string {
  const { cert, key } = ETCDCTL_IDENTITIES[identity];
  return `ETCDCTL_API=3 ${shJoin([binary(host, 'etcdctl'), `--endpoints=${endpoints}`, `--cacert=${PKI_PATHS.etcdCaCert}`, `--cert=${cert}`, `--key=${key}`, '--command-timeout=5s'])}`;
}

/** The member's own client URL: what etcdctl on a member talks to. */
export const LOCAL_ETCD = `https://127.0.0.1:${ETCD_CLIENT_PORT}`;

/** kubectl on a master, as the cluster admin. */
export function kubectl(host: HostSpec): string {
  return shJoin([binary(host, 'kubectl'), `--kubeconfig=${PKI_PATHS.adminConf}`, '--request-timeout=10s']);
}

export function localApiserver(spec: ClusterSpec): string {
  return `https://127.0.0.1:${spec.values.KUBE_APISERVER_PORT}`;
}

function readiness(spec: ClusterSpec, host: HostSpec, service: ComponentService): ReadinessCheck | undefined {
  switch (service) {
    case 'etcd':
      return { check: `${etcdctl(host, LOCAL_ETCD)} endpoint health`, description: 'answers endpoint health over TLS', timeoutSec: 120 };
    case 'kube-apiserver':
      return { check: `curl -sf --max-time 3 -o /dev/null --cacert ${PKI_PATHS.caCert} ${shq(`${localApiserver(spec)}/readyz`)}`, description: 'answers /readyz', timeoutSec: 180 };
    case 'kube-controller-manager':
      return { check: `curl -sfk --max-time 3 -o /dev/null https://127.0.0.1:${HEALTH_PORTS.controllerManager}/healthz`, description: 'answers /healthz', timeoutSec: 120 };
    case 'kube-scheduler':
      return { check: `curl -sfk --max-time 3 -o /dev/null https://127.0.0.1:${HEALTH_PORTS.scheduler}/healthz`, description: 'answers /healthz', timeoutSec: 120 };
    case 'kubelet':
      // Serving is not enough: the node must be registered, which proves its identity and the API server's certificate.
      return {
        check: `curl -sf --max-time 3 -o /dev/null http://127.0.0.1:${HEALTH_PORTS.kubeletHealthz}/healthz && ${shJoin([binary(host, 'kubectl'), `--kubeconfig=${PKI_PATHS.kubeletConf}`, '--request-timeout=5s', 'get', 'node', host.name, '-o', 'name'])}`,
        description: `answers /healthz and node ${host.name} is registered`,
        timeoutSec: 180,
      };
    case 'kube-proxy':
      return { check: `${CURL} http://127.0.0.1:${HEALTH_PORTS.kubeProxyHealthz}/healthz`, description: 'answers /healthz', timeoutSec: 120 };
    case 'flanneld':
      // In kube mode the node's subnet comes once the node is registered (a later phase): nothing to wait for here.
      return spec.values.FLANNEL_MODE === 'kube' ? undefined : { check: 'test -s /run/flannel/subnet.env', description: 'has written /run/flannel/subnet.env', timeoutSec: 120 };
  }
}

/** Members of a quorum and the control plane restart one host at a time; node agents restart everywhere at once. */
const ROLLING: ReadonlySet<ComponentService> = new Set(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);

/** A service a phase runs: enabled, running, with its readiness and restart order. */
export function runningService(spec: ClusterSpec, host: HostSpec, service: ComponentService): ServiceResource {
  return { kind: 'service', name: service, enabled: true, running: true, ...restartPolicy(spec, host, service) };
}

/**
 * A service a phase feeds but does not run (its certificates, say): no wish about its state, only
 * how to restart it when it runs, if no later phase of the run manages it.
 */
export function fedService(spec: ClusterSpec, host: HostSpec, service: ComponentService): ServiceResource {
  return { kind: 'service', name: service, ...restartPolicy(spec, host, service) };
}

function restartPolicy(spec: ClusterSpec, host: HostSpec, service: ComponentService): Pick<ServiceResource, 'ready' | 'rolling'> {
  const ready = readiness(spec, host, service);
  return { ...(ready ? { ready } : {}), ...(ROLLING.has(service) ? { rolling: true } : {}) };
}
