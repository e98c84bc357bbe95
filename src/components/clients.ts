import type { HostSpec } from '../config/cluster-spec.js';
import { shJoin } from '../ssh/quote.js';
import { binaryPath, PKI_PATHS } from './paths.js';

/**
 * How kubestrap's commands on a host talk to the cluster: etcdctl on an etcd member and kubectl on
 * a master (readiness checks, cluster actions, `bootstrap health`), as the identities kept there.
 */

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

/**
 * etcdctl on an etcd member, as `identity`: every setting a flag, none from the environment (etcdctl
 * 3.6 refuses an ETCDCTL_* variable that a flag shadows, and warns about ETCDCTL_API, which every
 * supported etcd defaults to 3).
 */
export function etcdctl(host: HostSpec, endpoints: string, identity: EtcdctlIdentity = 'healthcheck'): string {
  const { cert, key } = ETCDCTL_IDENTITIES[identity];
  return shJoin([binaryPath(host, 'etcdctl'), `--endpoints=${endpoints}`, `--cacert=${PKI_PATHS.etcdCaCert}`, `--cert=${cert}`, `--key=${key}`, '--command-timeout=5s']);
}

/** kubectl on a master, as the cluster admin. */
export function kubectl(host: HostSpec): string {
  return shJoin([binaryPath(host, 'kubectl'), `--kubeconfig=${PKI_PATHS.adminConf}`, '--request-timeout=10s']);
}

/**
 * Where etcd records which access the cluster was last given: readable by root and the API server
 * only, once auth is on. No leading slash, so that no flannel prefix (always absolute) covers it.
 */
export const ETCD_ACCESS_MARKER_KEY = 'kubestrap/etcd-access';
