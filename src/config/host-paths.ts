/**
 * Where kubestrap puts things on a host. Templates reach these as `paths.*`, and the phases that
 * install certificates, data directories and units use the same constants, so a path is named once.
 */
export const HOST_PATHS = {
  kubernetesDir: '/etc/kubernetes',
  pkiDir: '/etc/kubernetes/pki',
  etcdPkiDir: '/etc/kubernetes/pki/etcd',
  etcdDataDir: '/var/lib/etcd',
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
  /** Image archives (pause, CoreDNS) waiting to be imported into containerd. */
  imageArchiveDir: '/var/lib/kubestrap/images',
} as const;

export type HostPaths = typeof HOST_PATHS;
