import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { HOST_PATHS } from '../config/host-paths.js';
import type { CaName } from './catalog.js';
import { SERVICE_ACCOUNT_KEY } from './catalog.js';
import { ENCRYPTION_KEY } from './encryption.js';

const pki = HOST_PATHS.pkiDir;
const etcd = HOST_PATHS.etcdPkiDir;
const kube = HOST_PATHS.kubernetesDir;

/**
 * Where the PKI lives on a host: kubeadm's names, so that operators and their tools find things
 * where they expect them. Templates read these as `pki.*`; the pki phase installs them.
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

/** Where each CA's certificate sits on hosts: what a run compares to refuse replacing a CA. */
export const CA_CERT_PATHS: Record<CaName, string> = {
  ca: PKI_PATHS.caCert,
  'etcd-ca': PKI_PATHS.etcdCaCert,
  'front-proxy-ca': PKI_PATHS.frontProxyCaCert,
};

/** What a file on a host holds, by the name of the local item it comes from. */
export type PkiContent =
  | { kind: 'cert'; name: string }
  | { kind: 'key'; name: string }
  | { kind: 'public-key'; name: string }
  | { kind: 'kubeconfig'; name: string; server: string }
  | { kind: 'encryption-config'; name: string };

export interface HostPkiFile {
  path: string;
  content: PkiContent;
  mode: number;
  /** Services on this host that read the file: they restart when it changes. */
  restarts: string[];
  secret: boolean;
}

/** The directories the files go into, 0755 as kubeadm makes them: each key file is 0600 itself. */
export const PKI_DIRECTORIES: readonly string[] = [kube, pki, etcd];

/** Which services run where: the roles of the inventory decide. */
export function servicesOf(host: HostSpec): Set<string> {
  const services = new Set<string>();
  if (host.roles.includes('etcd')) services.add('etcd');
  if (host.roles.includes('master')) ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'flanneld'].forEach((s) => services.add(s));
  if (host.roles.includes('worker')) ['kubelet', 'kube-proxy', 'flanneld'].forEach((s) => services.add(s));
  return services;
}

/**
 * The API server a kubeconfig on this host points at. A master's own components use the API
 * server on the same host (so they come up with it and never talk to another version during an
 * upgrade); workers and the admin use KUBE_APISERVER_URL (MASTER_IP, possibly a load balancer).
 */
export function kubeconfigServer(spec: ClusterSpec, host: HostSpec, file: 'admin' | 'component'): string {
  if (file === 'component' && host.roles.includes('master')) return `https://127.0.0.1:${spec.values.KUBE_APISERVER_PORT}`;
  return spec.values.KUBE_APISERVER_URL!;
}

/**
 * Exactly what one host holds, and no more: a worker never gets a CA key, only etcd members get
 * peer keys, only masters get the service-account private key. The etcd and front-proxy CA keys
 * stay on the controller (kubestrap issues every certificate there); the Kubernetes CA key goes to
 * masters because kube-controller-manager signs kubelet CSRs with it.
 */
export function hostPkiFiles(spec: ClusterSpec, host: HostSpec): HostPkiFile[] {
  const runs = servicesOf(host);
  const readers = (...services: string[]) => services.filter((s) => runs.has(s));
  const files: HostPkiFile[] = [];
  const cert = (path: string, name: string, ...services: string[]) =>
    files.push({ path, content: { kind: 'cert', name }, mode: 0o644, restarts: readers(...services), secret: false });
  const key = (path: string, name: string, ...services: string[]) =>
    files.push({ path, content: { kind: 'key', name }, mode: 0o600, restarts: readers(...services), secret: true });
  const pair = (certPath: string, keyPath: string, name: string, ...services: string[]) => {
    cert(certPath, name, ...services);
    key(keyPath, name, ...services);
  };
  const kubeconfig = (path: string, name: string, server: string, ...services: string[]) =>
    files.push({ path, content: { kind: 'kubeconfig', name, server }, mode: 0o600, restarts: readers(...services), secret: true });
  const P = PKI_PATHS;
  const isMaster = host.roles.includes('master');
  const isWorker = host.roles.includes('worker');
  const isEtcd = host.roles.includes('etcd');

  // Masters and workers verify the API server or serve it; an etcd-only host has no use for this CA.
  if (isMaster || isWorker) cert(P.caCert, 'ca', 'kube-apiserver', 'kube-controller-manager', 'kubelet');
  // etcd members trust their peers and clients by it; API servers and flanneld verify etcd with it.
  // In kube mode flanneld talks to the API server only: etcd stays private to the control plane.
  const flannelUsesEtcd = runs.has('flanneld') && spec.values.FLANNEL_MODE !== 'kube';
  if (isEtcd || isMaster || flannelUsesEtcd) cert(P.etcdCaCert, 'etcd-ca', 'etcd', 'kube-apiserver', 'flanneld');
  if (isMaster) {
    key(P.caKey, 'ca', 'kube-controller-manager');
    pair(P.apiserverCert, P.apiserverKey, 'apiserver', 'kube-apiserver');
    pair(P.apiserverKubeletClientCert, P.apiserverKubeletClientKey, 'apiserver-kubelet-client', 'kube-apiserver');
    pair(P.apiserverEtcdClientCert, P.apiserverEtcdClientKey, 'apiserver-etcd-client', 'kube-apiserver');
    cert(P.frontProxyCaCert, 'front-proxy-ca', 'kube-apiserver');
    pair(P.frontProxyClientCert, P.frontProxyClientKey, 'front-proxy-client', 'kube-apiserver');
    key(P.serviceAccountKey, SERVICE_ACCOUNT_KEY, 'kube-apiserver', 'kube-controller-manager');
    files.push({ path: P.serviceAccountPub, content: { kind: 'public-key', name: SERVICE_ACCOUNT_KEY }, mode: 0o644, restarts: readers('kube-apiserver'), secret: false });
    kubeconfig(P.adminConf, 'admin', kubeconfigServer(spec, host, 'admin'));
    kubeconfig(P.controllerManagerConf, 'controller-manager', kubeconfigServer(spec, host, 'component'), 'kube-controller-manager');
    kubeconfig(P.schedulerConf, 'scheduler', kubeconfigServer(spec, host, 'component'), 'kube-scheduler');
    files.push({ path: P.encryptionConfig, content: { kind: 'encryption-config', name: ENCRYPTION_KEY }, mode: 0o600, restarts: readers('kube-apiserver'), secret: true });
  }
  if (isEtcd) {
    pair(P.etcdServerCert, P.etcdServerKey, `etcd-server/${host.name}`, 'etcd');
    pair(P.etcdPeerCert, P.etcdPeerKey, `etcd-peer/${host.name}`, 'etcd');
    // Read by etcdctl when asked, never by a running service.
    pair(P.etcdHealthcheckClientCert, P.etcdHealthcheckClientKey, 'etcd-healthcheck-client');
    pair(P.etcdAdminClientCert, P.etcdAdminClientKey, 'etcd-admin-client');
  }
  if (flannelUsesEtcd) pair(P.etcdFlannelClientCert, P.etcdFlannelClientKey, 'etcd-flannel-client', 'flanneld');
  if (runs.has('flanneld') && !flannelUsesEtcd) kubeconfig(P.flannelConf, 'flannel', kubeconfigServer(spec, host, 'component'), 'flanneld');
  if (isWorker) {
    pair(P.kubeletCert, P.kubeletKey, `kubelet/${host.name}`, 'kubelet');
    kubeconfig(P.kubeletConf, `kubelet-client/${host.name}`, kubeconfigServer(spec, host, 'component'), 'kubelet');
    kubeconfig(P.kubeProxyConf, 'kube-proxy', kubeconfigServer(spec, host, 'component'), 'kube-proxy');
  }
  return files;
}
