import { apiLbOn, apiLbUrl, component, componentsOn, localApiserver, readsOf } from '../components/catalog.js';
import { HOST_PATHS, PKI_PATHS, type PkiFile } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { CaName } from './catalog.js';
import { SERVICE_ACCOUNT_KEY } from './catalog.js';
import { ENCRYPTION_KEY } from './encryption.js';

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
export const PKI_DIRECTORIES: readonly string[] = [HOST_PATHS.kubernetesDir, HOST_PATHS.pkiDir, HOST_PATHS.etcdPkiDir];

/**
 * The API server a kubeconfig on this host points at. A master's own components use the API
 * server on the same host (so they come up with it and never talk to another version during an
 * upgrade); in LB mode the other nodes' components use their node-local load balancer, which
 * outlives any one master; otherwise, and always the admin, KUBE_APISERVER_URL (MASTER_IP,
 * possibly an external load balancer).
 */
export function kubeconfigServer(spec: ClusterSpec, host: HostSpec, file: 'admin' | 'component'): string {
  if (file === 'component' && host.roles.includes('master')) return localApiserver(spec);
  if (file === 'component' && apiLbOn(host)) return apiLbUrl(spec);
  return spec.values.KUBE_APISERVER_URL!;
}

type Content = (spec: ClusterSpec, host: HostSpec) => PkiContent;

const cert =
  (name: string): Content =>
  () => ({ kind: 'cert', name });
const key =
  (name: string): Content =>
  () => ({ kind: 'key', name });
const kubeconfig =
  (name: string, server: 'admin' | 'component'): Content =>
  (spec, host) => ({ kind: 'kubeconfig', name, server: kubeconfigServer(spec, host, server) });
/** An item issued for each host (etcd members' and kubelets' own certificates). */
const own =
  (kind: 'cert' | 'key', prefix: string): Content =>
  (_spec, host) => ({ kind, name: `${prefix}/${host.name}` });

/**
 * Which local PKI item goes into each file on hosts, in the order hosts get them. The etcd and
 * front-proxy CA keys appear nowhere: they stay on the controller, which issues every certificate.
 * The Kubernetes CA key goes to masters because kube-controller-manager signs kubelet CSRs with it.
 */
const FILE_CONTENTS: ReadonlyArray<readonly [PkiFile, Content]> = [
  ['caCert', cert('ca')],
  ['etcdCaCert', cert('etcd-ca')],
  ['caKey', key('ca')],
  ['apiserverCert', cert('apiserver')],
  ['apiserverKey', key('apiserver')],
  ['apiserverKubeletClientCert', cert('apiserver-kubelet-client')],
  ['apiserverKubeletClientKey', key('apiserver-kubelet-client')],
  ['apiserverEtcdClientCert', cert('apiserver-etcd-client')],
  ['apiserverEtcdClientKey', key('apiserver-etcd-client')],
  ['frontProxyCaCert', cert('front-proxy-ca')],
  ['frontProxyClientCert', cert('front-proxy-client')],
  ['frontProxyClientKey', key('front-proxy-client')],
  ['serviceAccountKey', key(SERVICE_ACCOUNT_KEY)],
  ['serviceAccountPub', () => ({ kind: 'public-key', name: SERVICE_ACCOUNT_KEY })],
  ['adminConf', kubeconfig('admin', 'admin')],
  ['controllerManagerConf', kubeconfig('controller-manager', 'component')],
  ['schedulerConf', kubeconfig('scheduler', 'component')],
  ['encryptionConfig', () => ({ kind: 'encryption-config', name: ENCRYPTION_KEY })],
  ['etcdServerCert', own('cert', 'etcd-server')],
  ['etcdServerKey', own('key', 'etcd-server')],
  ['etcdPeerCert', own('cert', 'etcd-peer')],
  ['etcdPeerKey', own('key', 'etcd-peer')],
  ['etcdHealthcheckClientCert', cert('etcd-healthcheck-client')],
  ['etcdHealthcheckClientKey', key('etcd-healthcheck-client')],
  ['etcdAdminClientCert', cert('etcd-admin-client')],
  ['etcdAdminClientKey', key('etcd-admin-client')],
  ['etcdFlannelClientCert', cert('etcd-flannel-client')],
  ['etcdFlannelClientKey', key('etcd-flannel-client')],
  ['flannelConf', kubeconfig('flannel', 'component')],
  ['kubeletCert', own('cert', 'kubelet')],
  ['kubeletKey', own('key', 'kubelet')],
  ['kubeletConf', (spec, host) => ({ kind: 'kubeconfig', name: `kubelet-client/${host.name}`, server: kubeconfigServer(spec, host, 'component') })],
  ['kubeProxyConf', kubeconfig('kube-proxy', 'component')],
];

/** Certificates and public keys are public; keys, kubeconfigs (they embed a key) and the encryption config are not. */
const SECRET: Record<PkiContent['kind'], boolean> = { cert: false, 'public-key': false, key: true, kubeconfig: true, 'encryption-config': true };

/**
 * Exactly what one host holds, and no more: the files the components of its roles read (each
 * restarting those that read it) or keep for the commands that operate them. So a worker never gets
 * a CA key, only etcd members get peer keys, only masters get the service-account private key.
 */
export function hostPkiFiles(spec: ClusterSpec, host: HostSpec): HostPkiFile[] {
  const here = componentsOn(host);
  return FILE_CONTENTS.flatMap(([file, content]) => {
    const readers = here.filter((name) => readsOf(spec, name).includes(file));
    const kept = here.some((name) => component(name).keeps?.includes(file));
    if (readers.length === 0 && !kept) return [];
    const what = content(spec, host);
    return [{ path: PKI_PATHS[file], content: what, mode: SECRET[what.kind] ? 0o600 : 0o644, restarts: readers, secret: SECRET[what.kind] }];
  });
}
