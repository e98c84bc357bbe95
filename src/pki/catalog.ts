import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { firstHosts } from '../config/config-checks.js';
import { isIPv4, networkAddress, parseCidr, splitList } from '../config/validators.js';
import type { CertificateProfile } from './certificate.js';
import type { KeyAlgorithm } from './keys.js';

/**
 * Everything the cluster's PKI holds, derived from the cluster spec alone. Three separate CAs, as
 * upstream recommends, so that a certificate from one trust domain is worth nothing in another: an
 * etcd client certificate cannot log in to the API server, a front-proxy client cannot reach etcd.
 */
export type CaName = 'ca' | 'etcd-ca' | 'front-proxy-ca';

export interface CaSpec {
  name: CaName;
  commonName: string;
  purpose: string;
}

export interface LeafSpec {
  /** Stable name: the file name in the local store and what `certs renew --name` takes, e.g. `apiserver`, `kubelet/node1`. */
  name: string;
  ca: CaName;
  profile: CertificateProfile;
  purpose: string;
}

/** The service-account signing key pair: its own key, never a CA's. */
export const SERVICE_ACCOUNT_KEY = 'sa';

export interface PkiSettings {
  caValidityDays: number;
  certValidityDays: number;
  renewBeforeDays: number;
}

export interface PkiCatalog {
  cas: CaSpec[];
  leaves: LeafSpec[];
  settings: PkiSettings;
}

export const KEY_ALGORITHMS: { certificates: KeyAlgorithm; serviceAccount: KeyAlgorithm } = {
  certificates: 'ecdsa-p256',
  serviceAccount: 'rsa-2048',
};

export const CAS: readonly CaSpec[] = [
  { name: 'ca', commonName: 'kubernetes', purpose: 'Kubernetes CA: API server, kubelets, components, admin' },
  { name: 'etcd-ca', commonName: 'etcd-ca', purpose: "etcd CA: members, and etcd's clients (API servers, flannel, health checks)" },
  { name: 'front-proxy-ca', commonName: 'front-proxy-ca', purpose: "front-proxy CA: the API server's client to aggregated APIs" },
];

/** flanneld's user name in kube mode: the bring-up binds it to the role flannel needs. */
export const FLANNEL_USER = 'kubestrap:flanneld';

/**
 * etcd's users: with its authentication on, etcd takes a client certificate's CN as the user, whose
 * roles decide what it may read and write. `root` is etcd's own administrator (users, roles,
 * members, snapshots); its certificate stays on the etcd members, which hold all the data anyway.
 */
export const ETCD_USERS = {
  admin: 'root',
  apiserver: 'kube-apiserver-etcd-client',
  flannel: 'flanneld',
  healthcheck: 'kube-etcd-healthcheck-client',
} as const;

/** The in-cluster names of the API server, which pods use through the `kubernetes` Service. */
export function apiserverServiceNames(clusterDomain: string): string[] {
  return ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${clusterDomain}`];
}

/** The `kubernetes` Service's address: the first address of SERVICE_CIDR. */
export function apiserverServiceIp(serviceCidr: string): string {
  return firstHosts(networkAddress(parseCidr(serviceCidr)!), 1)[0]!;
}

const hasRole = (h: HostSpec, role: HostSpec['roles'][number]): boolean => h.roles.includes(role);

export function pkiCatalog(spec: ClusterSpec): PkiCatalog {
  const v = spec.values;
  const masters = spec.hosts.filter((h) => hasRole(h, 'master'));
  const extra = splitList(v.APISERVER_EXTRA_SANS ?? '');
  const client = (name: string, ca: CaName, commonName: string, purpose: string, organizations: string[] = []): LeafSpec => ({
    name,
    ca,
    purpose,
    profile: { commonName, organizations, dnsNames: [], ipAddresses: [], usages: ['clientAuth'] },
  });
  const leaves: LeafSpec[] = [
    {
      name: 'apiserver',
      ca: 'ca',
      purpose: 'API server serving certificate (every master holds the same one)',
      profile: {
        commonName: 'kube-apiserver',
        organizations: [],
        dnsNames: unique([...masters.map((h) => h.name), ...apiserverServiceNames(v.CLUSTER_DOMAIN!), ...extra.filter((s) => !isIPv4(s))]),
        ipAddresses: unique([...masters.map((h) => h.nodeIp), v.MASTER_IP!, '127.0.0.1', apiserverServiceIp(v.SERVICE_CIDR!), ...extra.filter(isIPv4)]),
        usages: ['serverAuth'],
      },
    },
    // Bound to the system:kubelet-api-admin role by the bring-up: it reads logs and execs in pods.
    client('apiserver-kubelet-client', 'ca', 'kube-apiserver-kubelet-client', "the API server's client certificate for kubelets"),
    client('apiserver-etcd-client', 'etcd-ca', ETCD_USERS.apiserver, "the API server's client certificate for etcd"),
    // The API server only accepts front-proxy requests from this name (--requestheader-allowed-names).
    client('front-proxy-client', 'front-proxy-ca', 'front-proxy-client', "the API server's client certificate for aggregated APIs"),
    client('admin', 'ca', 'kubestrap-admin', 'cluster administrator (admin.conf)', ['system:masters']),
    client('controller-manager', 'ca', 'system:kube-controller-manager', 'kube-controller-manager (controller-manager.conf)'),
    client('scheduler', 'ca', 'system:kube-scheduler', 'kube-scheduler (scheduler.conf)'),
    client('kube-proxy', 'ca', 'system:kube-proxy', 'kube-proxy (kube-proxy.conf)'),
    client('etcd-healthcheck-client', 'etcd-ca', ETCD_USERS.healthcheck, 'etcd health checks (endpoint health, member list, flannel leases)'),
    client('etcd-admin-client', 'etcd-ca', ETCD_USERS.admin, "etcd's administrator on etcd members (users and roles, members, flannel's network, etcdctl for root)"),
    client('etcd-flannel-client', 'etcd-ca', ETCD_USERS.flannel, "flanneld's client certificate for etcd (its prefix only)"),
    // With FLANNEL_MODE=kube flanneld reads node podCIDRs through the API server, as this user.
    ...(v.FLANNEL_MODE === 'kube' ? [client('flannel', 'ca', FLANNEL_USER, 'flanneld in kube mode (flannel.conf)')] : []),
  ];
  for (const h of spec.hosts.filter((x) => hasRole(x, 'etcd'))) leaves.push(...etcdMemberLeaves(h));
  for (const h of spec.hosts.filter((x) => hasRole(x, 'worker'))) leaves.push(...kubeletLeaves(h));
  return {
    cas: [...CAS],
    leaves,
    settings: {
      caValidityDays: Number(v.CA_VALIDITY_DAYS),
      certValidityDays: Number(v.CERT_VALIDITY_DAYS),
      renewBeforeDays: Number(v.CERT_RENEW_BEFORE_DAYS),
    },
  };
}

/** Server and peer certificates of one member: clients and peers reach it by address, name or loopback. */
function etcdMemberLeaves(h: HostSpec): LeafSpec[] {
  const names = { dnsNames: [h.name, 'localhost'], ipAddresses: unique([h.nodeIp, '127.0.0.1']) };
  return [
    {
      name: `etcd-server/${h.name}`,
      ca: 'etcd-ca',
      purpose: `etcd serving certificate of ${h.name}`,
      profile: { commonName: h.name, organizations: [], ...names, usages: ['serverAuth', 'clientAuth'] },
    },
    {
      name: `etcd-peer/${h.name}`,
      ca: 'etcd-ca',
      // Peers use one certificate both ways: as a server to the others and as their client.
      purpose: `etcd peer certificate of ${h.name}`,
      profile: { commonName: h.name, organizations: [], ...names, usages: ['serverAuth', 'clientAuth'] },
    },
  ];
}

/** The Node authorizer knows a kubelet by exactly this subject; the API server reaches its port by these SANs. */
function kubeletLeaves(h: HostSpec): LeafSpec[] {
  return [
    {
      name: `kubelet-client/${h.name}`,
      ca: 'ca',
      purpose: `kubelet of ${h.name}, as the API server's client (kubelet.conf)`,
      profile: { commonName: `system:node:${h.name}`, organizations: ['system:nodes'], dnsNames: [], ipAddresses: [], usages: ['clientAuth'] },
    },
    {
      name: `kubelet/${h.name}`,
      ca: 'ca',
      purpose: `kubelet serving certificate of ${h.name}`,
      profile: { commonName: h.name, organizations: [], dnsNames: [h.name], ipAddresses: [h.nodeIp], usages: ['serverAuth'] },
    },
  ];
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
