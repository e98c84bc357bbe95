import type { ClusterSpec } from '../config/cluster-spec.js';
import { StateError } from '../errors.js';
import type { ClientIdentity } from '../cluster-api/tls-channel.js';
import { ENCRYPTION_KEY, parseEncryptionKey } from './encryption.js';
import { localPkiStore } from './store.js';

/**
 * The client certificates the controller itself uses to talk to the cluster's APIs (through a
 * host's SSH connection, src/cluster-api/): the administrator's for the API server, and etcd's
 * health-check and administrator users. Read from the local PKI store when first asked: a plan of
 * a new cluster, whose PKI is not written yet, never asks.
 */
export const CLIENT_IDENTITIES = {
  kubeAdmin: { ca: 'ca', leaf: 'admin' },
  etcdHealthcheck: { ca: 'etcd-ca', leaf: 'etcd-healthcheck-client' },
  etcdAdmin: { ca: 'etcd-ca', leaf: 'etcd-admin-client' },
} as const;

export type ClientIdentityName = keyof typeof CLIENT_IDENTITIES;

export function clientIdentity(spec: Pick<ClusterSpec, 'stateDir'>, name: ClientIdentityName): ClientIdentity {
  const store = localPkiStore(spec);
  const { ca, leaf } = CLIENT_IDENTITIES[name];
  const caCert = store.read(ca).certPem;
  const { certPem, keyPem } = store.read(leaf);
  if (!caCert || !certPem || !keyPem) {
    const missing = !caCert ? store.pathOf(ca, 'certPem') : !certPem ? store.pathOf(leaf, 'certPem') : store.pathOf(leaf, 'keyPem');
    throw new StateError(
      missing,
      `kubestrap needs ${leaf} to ask the cluster itself, and the local PKI lacks it`,
      'run bootstrap apply (it issues what is missing), or restore the state folder from your backup',
    );
  }
  return { ca: caCert, cert: certPem, key: keyPem };
}

/** The name of the key Secrets are encrypted with, as the local PKI holds it (undefined: none yet). */
export function encryptionKeyName(spec: Pick<ClusterSpec, 'stateDir'>): string | undefined {
  const text = localPkiStore(spec).read(ENCRYPTION_KEY).keyPem;
  return text ? parseEncryptionKey(text)?.name : undefined;
}
