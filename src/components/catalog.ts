import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { Role } from '../config/inventory-schema.js';
import { shJoin, shq } from '../ssh/quote.js';
import { DEFAULT_PORTS, type BinaryName } from '../upstream/index.js';
import { etcdctl } from './clients.js';
import { binaryPath, FLANNEL_SUBNET_FILE, HOST_PATHS, PKI_PATHS, type PkiFile } from './paths.js';

/**
 * The cluster's components and where each one lives: which hosts get it, its binaries, its unit and
 * the rendered files it owns, its ports, how kubestrap knows it serves, and which PKI files it reads.
 * Phases, the PKI's host layout, templates and `bootstrap health` read these facts from here.
 */

/** A port the component listens on: upstream's default that the units keep, or the setting that chooses it. */
export type Port = number | { setting: 'KUBE_APISERVER_PORT' };

export interface Ports {
  client?: Port;
  peer?: Port;
  /** Its secure (HTTPS) serving port. */
  secure?: Port;
  healthz?: Port;
  metrics?: Port;
}

/** How kubestrap knows a service serves after a start or restart (the engine's ReadinessCheck). */
export interface Readiness {
  /** Exits 0 once the service is ready; runs on the host. */
  check: string;
  description: string;
  timeoutSec: number;
  /** The programs the check runs besides kubestrap's own binaries (src/os/host-tools.ts): a preflight finds them missing. */
  tools?: readonly string[];
}

export interface Service {
  /** The systemd unit. */
  unit: string;
  /** The binary the unit runs: a new one restarts the service. */
  daemon?: BinaryName;
  ports: Ports;
  /** What clients on the host itself talk to. */
  endpoint?(spec: ClusterSpec): string;
  /** The URL on the host that answers once it serves. */
  health?(spec: ClusterSpec): string;
  readiness?(spec: ClusterSpec, host: HostSpec): Readiness | undefined;
  /** Restarted one host at a time, each ready before the next: members of a quorum and the control plane. */
  rolling: boolean;
  /** Takes changed inputs with `systemctl reload` (its ExecReload), keeping its connections, instead of a restart. */
  reloads?: true;
}

export interface Component {
  /** The inventory roles whose hosts get it: its binaries and the PKI files it reads. */
  roles: readonly Role[];
  /** Where the cluster's settings keep it off some hosts of its roles: it does not run there. */
  runs?(spec: ClusterSpec, host: HostSpec): boolean;
  /** Its binaries, in install order. */
  binaries: readonly BinaryName[];
  /** Comes from the OS's packages instead (generic names; the OS adapter installs them). */
  packages?: readonly string[];
  /** Its binaries come with the container runtime (packages, or the bundle's static builds), not with the artifacts phase. */
  withRuntime?: true;
  /**
   * The rendered files it owns, which the phase that installs it installs: a path, or a prefix (it
   * ends in `/`, `-` or `.`). A unit's drop-ins (`<unit>.d/*.conf`) go with the unit.
   */
  files: readonly string[];
  /** The PKI files it reads: a change restarts it. */
  reads?: readonly PkiFile[] | ((spec: ClusterSpec) => readonly PkiFile[]);
  /** PKI files kept on its hosts for the commands that operate it (etcdctl, kubectl as admin); they restart nothing. */
  keeps?: readonly PkiFile[];
  service?: Service;
}

const unitFile = (unit: string) => `${HOST_PATHS.systemdDir}/${unit}`;
const local = (scheme: 'http' | 'https', port: number, path = '') => `${scheme}://127.0.0.1:${port}${path}`;

/** `curl` that fails unless the URL answers in time; `-s` alone accepts any HTTP answer. */
const curl = (flags: string, url: string, ...options: string[]) => `curl ${flags} --max-time 3 -o /dev/null ${[...options, shq(url)].join(' ')}`;

/** A readiness check that reads the service's HTTP endpoint (with curl, which the OS phase installs). */
const overHttp = (check: string, description: string, timeoutSec: number): Readiness => ({ check, description, timeoutSec, tools: ['curl'] });

/** flanneld takes its subnet lease in etcd, unless FLANNEL_MODE=kube makes it follow its Node's podCIDR through the API server. */
export function flannelUsesEtcd(spec: ClusterSpec): boolean {
  return spec.values.FLANNEL_MODE !== 'kube';
}

const APISERVER_READYZ = (spec: ClusterSpec) => `${localApiserver(spec)}/readyz`;
const CONTROLLER_MANAGER_HEALTHZ = local('https', DEFAULT_PORTS.kubeControllerManager, '/healthz');
const SCHEDULER_HEALTHZ = local('https', DEFAULT_PORTS.kubeScheduler, '/healthz');
const KUBELET_HEALTHZ = local('http', DEFAULT_PORTS.kubeletHealthz, '/healthz');
const KUBE_PROXY_HEALTHZ = local('http', DEFAULT_PORTS.kubeProxyHealthz, '/healthz');

/**
 * haproxy's statistics socket, on the loopback only: what the readiness check and `health` read
 * every backend's state from. A TCP socket, not a UNIX one, so bash's /dev/tcp reads it: minimal
 * hosts have neither socat nor nc.
 */
export const API_LB_STATS_PORT = 8404;

/**
 * The node-local API load balancer's place: LB mode (two or more masters and MASTER_IP empty, the
 * derived API_LB) on a host that runs node agents but no API server of its own. Masters keep
 * talking to their own API server (see kubeconfigServer).
 */
export function apiLbOn(host: HostSpec): boolean {
  return host.values.API_LB === 'true' && host.roles.includes('worker') && !host.roles.includes('master');
}

/** The API server address a kubelet, kube-proxy or flanneld on an LB host uses: its own load balancer. */
export function apiLbUrl(spec: ClusterSpec): string {
  return local('https', Number(spec.values.KUBE_APISERVER_PORT));
}

/** `show stat` on haproxy's stats socket: its CSV, one line per frontend, backend and server. */
export const API_LB_SHOW_STAT = `timeout 5 bash -c ${shq(`exec 3<>/dev/tcp/127.0.0.1/${API_LB_STATS_PORT} && printf 'show stat\\n' >&3 && cat <&3`)}`;

/** The backend of the API servers in haproxy.cfg, whose servers are the masters by name. */
export const API_LB_BACKEND = 'kube-apiserver';

/**
 * Every component, in the order hosts install them and restart them. Binaries go role by role in the
 * order of the inventory's roles, each role's components in this order (see binariesForRoles).
 */
export const COMPONENTS = {
  etcd: {
    roles: ['etcd'],
    binaries: ['etcd', 'etcdctl', 'etcdutl'],
    files: [unitFile('etcd.service')],
    reads: ['etcdCaCert', 'etcdServerCert', 'etcdServerKey', 'etcdPeerCert', 'etcdPeerKey'],
    keeps: ['etcdHealthcheckClientCert', 'etcdHealthcheckClientKey', 'etcdAdminClientCert', 'etcdAdminClientKey'],
    service: {
      unit: 'etcd.service',
      daemon: 'etcd',
      ports: { client: DEFAULT_PORTS.etcdClient, peer: DEFAULT_PORTS.etcdPeer },
      endpoint: () => local('https', DEFAULT_PORTS.etcdClient),
      readiness: (_spec, host) => ({ check: `${etcdctl(host, LOCAL_ETCD)} endpoint health`, description: 'answers endpoint health over TLS', timeoutSec: 120 }),
      rolling: true,
    },
  },
  'kube-apiserver': {
    roles: ['master'],
    binaries: ['kube-apiserver'],
    files: [unitFile('kube-apiserver.service'), HOST_PATHS.auditPolicyFile],
    reads: [
      'caCert',
      'etcdCaCert',
      'apiserverCert',
      'apiserverKey',
      'apiserverKubeletClientCert',
      'apiserverKubeletClientKey',
      'apiserverEtcdClientCert',
      'apiserverEtcdClientKey',
      'frontProxyCaCert',
      'frontProxyClientCert',
      'frontProxyClientKey',
      'serviceAccountKey',
      'serviceAccountPub',
      'encryptionConfig',
    ],
    keeps: ['adminConf'],
    service: {
      unit: 'kube-apiserver.service',
      daemon: 'kube-apiserver',
      ports: { secure: { setting: 'KUBE_APISERVER_PORT' } },
      endpoint: (spec) => local('https', Number(spec.values.KUBE_APISERVER_PORT)),
      health: APISERVER_READYZ,
      readiness: (spec) => overHttp(curl('-sf', APISERVER_READYZ(spec), '--cacert', PKI_PATHS.caCert), 'answers /readyz', 180),
      rolling: true,
    },
  },
  'kube-controller-manager': {
    roles: ['master'],
    binaries: ['kube-controller-manager'],
    files: [unitFile('kube-controller-manager.service')],
    // The Kubernetes CA's key signs kubelets' CSRs.
    reads: ['caCert', 'caKey', 'serviceAccountKey', 'controllerManagerConf'],
    service: {
      unit: 'kube-controller-manager.service',
      daemon: 'kube-controller-manager',
      ports: { secure: DEFAULT_PORTS.kubeControllerManager },
      health: () => CONTROLLER_MANAGER_HEALTHZ,
      readiness: () => overHttp(curl('-sfk', CONTROLLER_MANAGER_HEALTHZ), 'answers /healthz', 120),
      rolling: true,
    },
  },
  'kube-scheduler': {
    roles: ['master'],
    binaries: ['kube-scheduler'],
    files: [unitFile('kube-scheduler.service')],
    reads: ['schedulerConf'],
    service: {
      unit: 'kube-scheduler.service',
      daemon: 'kube-scheduler',
      ports: { secure: DEFAULT_PORTS.kubeScheduler },
      health: () => SCHEDULER_HEALTHZ,
      readiness: () => overHttp(curl('-sfk', SCHEDULER_HEALTHZ), 'answers /healthz', 120),
      rolling: true,
    },
  },
  kubelet: {
    roles: ['worker'],
    binaries: ['kubelet'],
    files: [unitFile('kubelet.service'), `${HOST_PATHS.kubernetesDir}/kubelet-`, `${HOST_PATHS.kubernetesDir}/kubelet.`],
    reads: ['caCert', 'kubeletCert', 'kubeletKey', 'kubeletConf'],
    service: {
      unit: 'kubelet.service',
      daemon: 'kubelet',
      ports: { secure: DEFAULT_PORTS.kubelet, healthz: DEFAULT_PORTS.kubeletHealthz },
      health: () => KUBELET_HEALTHZ,
      // Serving is not enough: the node must be registered, which proves its identity and the API server's certificate.
      readiness: (_spec, host) =>
        overHttp(
          `${curl('-sf', KUBELET_HEALTHZ)} && ${shJoin([binaryPath(host, 'kubectl'), `--kubeconfig=${PKI_PATHS.kubeletConf}`, '--request-timeout=5s', 'get', 'node', host.name, '-o', 'name'])}`,
          `answers /healthz and node ${host.name} is registered`,
          180,
        ),
      rolling: false,
    },
  },
  'kube-proxy': {
    roles: ['worker'],
    binaries: ['kube-proxy'],
    files: [unitFile('kube-proxy.service'), `${HOST_PATHS.kubernetesDir}/kube-proxy-`, `${HOST_PATHS.kubernetesDir}/kube-proxy.`],
    reads: ['kubeProxyConf'],
    service: {
      unit: 'kube-proxy.service',
      daemon: 'kube-proxy',
      ports: { healthz: DEFAULT_PORTS.kubeProxyHealthz, metrics: DEFAULT_PORTS.kubeProxyMetrics },
      health: () => KUBE_PROXY_HEALTHZ,
      readiness: () => overHttp(curl('-s', KUBE_PROXY_HEALTHZ), 'answers /healthz', 120),
      rolling: false,
    },
  },
  /** Masters and workers check the API server with it: as the admin on masters, as the node (kubelet.conf) on workers. */
  kubectl: { roles: ['master', 'worker'], binaries: ['kubectl'], files: [] },
  /** On the masters, etcd's clients; members get it with etcd. */
  etcdctl: { roles: ['master'], binaries: ['etcdctl'], files: [] },
  /** Masters and workers, as in the seeds: a master reaches pods through the overlay. */
  flanneld: {
    roles: ['master', 'worker'],
    // In kube mode flanneld follows its own Node, which a master without a kubelet does not have:
    // such a master runs no flanneld, as with upstream's kube-flannel DaemonSet.
    runs: (spec, host) => host.roles.includes('worker') || flannelUsesEtcd(spec),
    binaries: ['flanneld'],
    files: [unitFile('flanneld.service'), '/etc/kube-flannel/'],
    reads: (spec) => (flannelUsesEtcd(spec) ? ['etcdCaCert', 'etcdFlannelClientCert', 'etcdFlannelClientKey'] : ['flannelConf']),
    service: {
      unit: 'flanneld.service',
      daemon: 'flanneld',
      ports: {},
      // In kube mode the node's subnet comes once the node is registered (a later phase): nothing to wait for here.
      readiness: (spec) => (flannelUsesEtcd(spec) ? { check: `test -s ${FLANNEL_SUBNET_FILE}`, description: `has written ${FLANNEL_SUBNET_FILE}`, timeoutSec: 120 } : undefined),
      rolling: false,
    },
  },
  /** The CNI plugins the runtime calls for pods, and their configuration (flannel's). */
  'cni-plugins': { roles: ['worker'], binaries: ['flannel', 'bridge', 'host-local', 'loopback', 'portmap'], files: ['/etc/cni/'] },
  /** The runtime runs where the kubelet does. */
  containerd: {
    roles: ['worker'],
    binaries: ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc'],
    withRuntime: true,
    files: ['/etc/containerd/'],
    service: { unit: 'containerd.service', daemon: 'containerd', ports: {}, readiness: () => ({ check: 'ctr version', description: 'answers `ctr version`', timeoutSec: 60 }), rolling: false },
  },
  docker: {
    roles: ['worker'],
    binaries: ['docker', 'dockerd', 'docker-proxy', 'docker-init'],
    withRuntime: true,
    files: ['/etc/docker/'],
    service: { unit: 'docker.service', daemon: 'dockerd', ports: {}, readiness: () => ({ check: 'docker info', description: 'answers `docker info`', timeoutSec: 60 }), rolling: false },
  },
  /**
   * The node-local API load balancer (haproxy from the OS packages) on LB hosts (apiLbOn): a TCP
   * listener on 127.0.0.1:KUBE_APISERVER_PORT in front of every master's API server, each checked
   * by its /readyz. A change of the master list reloads it: no connection through it drops.
   */
  'api-lb': {
    roles: ['worker'],
    runs: (_spec, host) => apiLbOn(host),
    binaries: [],
    packages: ['haproxy'],
    files: [HOST_PATHS.haproxyConfig],
    service: {
      unit: 'haproxy.service',
      ports: { secure: { setting: 'KUBE_APISERVER_PORT' }, metrics: API_LB_STATS_PORT },
      readiness: () => ({
        check: `${API_LB_SHOW_STAT} | awk -F, '$1 == "${API_LB_BACKEND}" && $2 != "BACKEND" && $18 ~ /^UP/ { up = 1 } END { exit !up }'`,
        description: 'answers on its stats socket with an API server UP',
        timeoutSec: 60,
      }),
      rolling: false,
      reloads: true,
    },
  },
  /** Cluster addons (CoreDNS): manifests on the masters, applied with kubectl. */
  addons: { roles: ['master'], binaries: [], files: [`${HOST_PATHS.addonsDir}/`] },
} as const satisfies Record<string, Component>;

export type ComponentName = keyof typeof COMPONENTS;

/** The components that run as a systemd service. */
export type ServiceName = { [N in ComponentName]: (typeof COMPONENTS)[N] extends { service: Service } ? N : never }[ComponentName];

export const COMPONENT_NAMES = Object.keys(COMPONENTS) as ComponentName[];

/** etcd's own client URL on a member: what etcdctl there talks to. */
export const LOCAL_ETCD: string = COMPONENTS.etcd.service.endpoint();

/** The API server on a master itself: what the master's own components and commands talk to. */
export function localApiserver(spec: ClusterSpec): string {
  return COMPONENTS['kube-apiserver'].service.endpoint(spec);
}

export function component(name: ComponentName): Component {
  return COMPONENTS[name];
}

export function service(name: ServiceName): Service {
  return COMPONENTS[name].service;
}

/** Whether the host has one of the component's roles: it gets the component's binaries and the PKI files it reads. */
export function isOn(host: HostSpec, name: ComponentName): boolean {
  return component(name).roles.some((r) => host.roles.includes(r));
}

/** Whether the component runs on the host: one of its roles, and the cluster's settings do not keep it off. */
export function runsOn(spec: ClusterSpec, host: HostSpec, name: ComponentName): boolean {
  const c = component(name);
  return isOn(host, name) && (c.runs?.(spec, host) ?? true);
}

/** The components on a host, in catalog order. */
export function componentsOn(host: HostSpec): ComponentName[] {
  return COMPONENT_NAMES.filter((name) => isOn(host, name));
}

export function readsOf(spec: ClusterSpec, name: ComponentName): readonly PkiFile[] {
  const reads = component(name).reads ?? [];
  return typeof reads === 'function' ? reads(spec) : reads;
}

/** The port numbers a service listens on, in the order client, peer, secure, healthz, metrics, with the setting that chooses one. */
export function portsOf(spec: ClusterSpec, name: ServiceName): Array<{ port: number; setting?: string }> {
  const { ports } = service(name);
  return [ports.client, ports.peer, ports.secure, ports.healthz, ports.metrics].flatMap((p: Port | undefined) => {
    if (p === undefined) return [];
    return typeof p === 'number' ? [{ port: p }] : [{ port: Number(spec.values[p.setting]), setting: p.setting }];
  });
}
