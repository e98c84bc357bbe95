import type { HostSpec } from '../config/cluster-spec.js';
import { BINARIES, type BinaryName } from '../upstream/index.js';

/**
 * Where kubestrap puts things on a host. Templates reach these as `paths.*` and `pki.*`; the phases
 * that install certificates, data directories and units, and the commands that read them, use the
 * same constants, so a path is named once.
 */
export const HOST_PATHS = {
  kubernetesDir: '/etc/kubernetes',
  pkiDir: '/etc/kubernetes/pki',
  etcdPkiDir: '/etc/kubernetes/pki/etcd',
  etcdDataDir: '/var/lib/etcd',
  /**
   * How a member without data founds or joins the cluster (ETCD_INITIAL_CLUSTER and _STATE, which
   * etcd reads from its environment and ignores once it has data). Written by the etcd phase's
   * join step, not rendered, so that a change of membership rewrites no member's unit: it depends
   * on the member list as etcd reports it. It lives with the data it founded and goes with it
   * (etcd logs a warning about a file it does not know there, and goes on).
   */
  etcdInitialClusterEnv: '/var/lib/etcd/kubestrap-initial-cluster.env',
  kubeletDir: '/var/lib/kubelet',
  kubeProxyDir: '/var/lib/kube-proxy',
  auditLogDir: '/var/log/kubernetes',
  /** What the API server's audit log records: a rendered template (units/master/etc/kubernetes/audit-policy.yaml). */
  auditPolicyFile: '/etc/kubernetes/audit-policy.yaml',
  systemdDir: '/etc/systemd/system',
  cniConfDir: '/etc/cni/net.d',
  cniBinDir: '/opt/cni/bin',
  flannelRunDir: '/run/flannel',
  flannelNetConf: '/etc/kube-flannel/net-conf.json',
  addonsDir: '/etc/kubernetes/addons',
  /** kubestrap's own state on a host: pending restarts, what it installed, manifests it applied. */
  kubestrapDir: '/var/lib/kubestrap',
  recordDir: '/var/lib/kubestrap/record',
  appliedDir: '/var/lib/kubestrap/applied',
  /** containerd, runc and Docker installed from static binaries (CONTAINER_RUNTIME_SOURCE=bundle); in systemd's PATH. */
  runtimeBinDir: '/usr/local/bin',
  /** containerd's `config_path`: one `<registry>/hosts.toml` per registry. */
  containerdRegistryDir: '/etc/containerd/certs.d',
  /**
   * The node-local API load balancer's configuration: the path every distribution's haproxy unit
   * reads, so kubestrap owns the whole file instead of pointing the unit elsewhere (EL 7's unit
   * names the path in ExecStart, where no drop-in's variable reaches).
   */
  haproxyConfig: '/etc/haproxy/haproxy.cfg',
  /** Image archives (pause, CoreDNS) waiting to be imported into containerd. */
  imageArchiveDir: '/var/lib/kubestrap/images',
} as const;

export type HostPaths = typeof HOST_PATHS;

const pki = HOST_PATHS.pkiDir;
const etcd = HOST_PATHS.etcdPkiDir;
const kube = HOST_PATHS.kubernetesDir;

/**
 * Where the PKI lives on a host: kubeadm's names, so that operators and their tools find things
 * where they expect them. Which component reads which file is the catalog's (catalog.ts); what each
 * file holds is the PKI's (pki/host-layout.ts).
 */
export const PKI_PATHS = {
  caCert: `${pki}/ca.crt`,
  caKey: `${pki}/ca.key`,
  apiserverCert: `${pki}/apiserver.crt`,
  apiserverKey: `${pki}/apiserver.key`,
  apiserverKubeletClientCert: `${pki}/apiserver-kubelet-client.crt`,
  apiserverKubeletClientKey: `${pki}/apiserver-kubelet-client.key`,
  apiserverEtcdClientCert: `${pki}/apiserver-etcd-client.crt`,
  apiserverEtcdClientKey: `${pki}/apiserver-etcd-client.key`,
  frontProxyCaCert: `${pki}/front-proxy-ca.crt`,
  frontProxyClientCert: `${pki}/front-proxy-client.crt`,
  frontProxyClientKey: `${pki}/front-proxy-client.key`,
  serviceAccountKey: `${pki}/sa.key`,
  serviceAccountPub: `${pki}/sa.pub`,
  kubeletCert: `${pki}/kubelet.crt`,
  kubeletKey: `${pki}/kubelet.key`,
  etcdCaCert: `${etcd}/ca.crt`,
  etcdServerCert: `${etcd}/server.crt`,
  etcdServerKey: `${etcd}/server.key`,
  etcdPeerCert: `${etcd}/peer.crt`,
  etcdPeerKey: `${etcd}/peer.key`,
  etcdHealthcheckClientCert: `${etcd}/healthcheck-client.crt`,
  etcdHealthcheckClientKey: `${etcd}/healthcheck-client.key`,
  etcdAdminClientCert: `${etcd}/admin-client.crt`,
  etcdAdminClientKey: `${etcd}/admin-client.key`,
  etcdFlannelClientCert: `${etcd}/flannel-client.crt`,
  etcdFlannelClientKey: `${etcd}/flannel-client.key`,
  adminConf: `${kube}/admin.conf`,
  controllerManagerConf: `${kube}/controller-manager.conf`,
  schedulerConf: `${kube}/scheduler.conf`,
  kubeletConf: `${kube}/kubelet.conf`,
  kubeProxyConf: `${kube}/kube-proxy.conf`,
  flannelConf: `${kube}/flannel.conf`,
  /** The API server's encryption at rest (EncryptionConfiguration), with the key from the local PKI. */
  encryptionConfig: `${kube}/encryption-config.yaml`,
} as const;

/** A PKI file on a host, by its key in PKI_PATHS. */
export type PkiFile = keyof typeof PKI_PATHS;

/** Where flanneld writes the node's subnet (`--subnet-file`): its readiness and health read it. */
export const FLANNEL_SUBNET_FILE = `${HOST_PATHS.flannelRunDir}/subnet.env`;

/** Folders of the system's own layout: kubestrap puts binaries there (BIN_PATH=/usr/local/bin, say) but never owns or removes them. */
const SYSTEM_FOLDERS = new Set(['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/usr/libexec', '/usr/local/libexec']);

/**
 * The folders kubestrap makes for a host's binaries (BIN_PATH, the CNI plugins'): those a reset
 * removes once empty. A system folder, or one right under the root, is never one of them.
 */
export function binaryFolders(host: HostSpec, names: readonly BinaryName[]): string[] {
  const folders = new Set(names.map((name) => binaryPath(host, name).replace(/\/[^/]+$/, '')));
  return [...folders].filter((dir) => !SYSTEM_FOLDERS.has(dir) && dir.split('/').filter(Boolean).length > 1);
}

/** Where a binary goes on this host: BIN_PATH, or the CNI plugin folder the runtime reads. */
export function binaryPath(host: HostSpec, name: BinaryName): string {
  return BINARIES[name].dir === 'cni' ? `${HOST_PATHS.cniBinDir}/${name}` : `${host.values.BIN_PATH}/${name}`;
}
