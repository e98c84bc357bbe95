import { componentPhase } from './component-phase.js';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import { namesWithRole, readsRoles, type Phase } from './phase.js';
import { ObjectSchema, SecretListSchema } from '../cluster-api/kube-objects.js';
import type { KubeApi } from '../cluster-api/kube-api.js';
import { encryptionKeyName } from '../pki/client-identities.js';
import { adminApi, exists } from './cluster-queries.js';

/** The API server's client certificate for kubelets (its CN, see pki/catalog.ts) and the binding that lets it reach them. */
const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';
export const KUBELET_API_BINDING = 'kubestrap:apiserver-kubelet-client';
/** On the kube-system namespace: the key every Secret was last written with, so the rewrite happens once per key. */
export const SECRETS_ENCRYPTED_LABEL = 'kubestrap.io/secrets-encrypted-with';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/**
 * The control plane on every master: the API server (etcd over TLS, Node and RBAC authorization,
 * service-account keys, its client certificate for kubelets), then the controller manager and the
 * scheduler, each waited on until it answers its health endpoint; restarts go one master at a time.
 * Once the API server answers, the binding that lets it reach kubelets (logs, exec) is created,
 * once, when it is missing.
 */
export const controlPlanePhase: Phase = componentPhase(
  {
    name: 'control-plane',
    title: 'control plane',
    role: 'master',
    directories: [{ path: HOST_PATHS.auditLogDir, mode: 0o700 }],
    services: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
  },
  {
    limitReads: readsRoles('master'),
    clusterActions: (ctx) => [
      {
        name: 'apiserver-kubelet-access',
        description: `let the API server reach kubelets (bind ${KUBELET_CLIENT_USER} to system:kubelet-api-admin)`,
        query: (channel, host) => exists(adminApi(ctx.spec, host, channel), `${RBAC}/clusterrolebindings/${KUBELET_API_BINDING}`),
        // Created once: an operator's later edit of the binding is theirs to keep.
        apply: async (channel, host) => {
          await adminApi(ctx.spec, host, channel).create(`${RBAC}/clusterrolebindings`, {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRoleBinding',
            metadata: { name: KUBELET_API_BINDING },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kubelet-api-admin' },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: KUBELET_CLIENT_USER }],
          });
        },
        candidates: namesWithRole(ctx, 'master'),
        when: 'after',
        failureHint: 'check that the API server answers on that master (journalctl -u kube-apiserver)',
      },
      encryptExistingSecrets(ctx),
    ],
  },
);

/**
 * The API servers encrypt a Secret when they write it: those stored before the encryption config
 * (an existing cluster, a new key) stay plain until written again. Once every master runs with the
 * config, each Secret is written back as it is (upstream's `get | replace`), and kube-system is
 * labelled with the key the run deploys, so this happens once per key.
 */
function encryptExistingSecrets(ctx: ClusterContext): ClusterAction {
  const masters = namesWithRole(ctx, 'master');
  // The key the run deploys, from the local PKI: the masters' config says the same once the pki phase ran.
  const key = encryptionKeyName(ctx.spec);
  return {
    name: 'encrypt-existing-secrets',
    description: 'write every Secret again, so that those stored before encryption at rest are encrypted too',
    query: async (channel, host) => {
      if (!key) return true;
      const ns = await adminApi(ctx.spec, host, channel).get('/api/v1/namespaces/kube-system', ObjectSchema);
      return ns?.metadata.labels[SECRETS_ENCRYPTED_LABEL] === key;
    },
    apply: async (channel, host, live) => {
      const waiting = masters.filter((m) => !live.includes(m));
      // A master still on the old configuration could neither read what the others encrypt nor encrypt what it writes.
      if (waiting.length) throw new Error(`not every master runs with the encryption config yet (${waiting.join(', ')}): Secrets are rewritten once all do`);
      const api = adminApi(ctx.spec, host, channel);
      await rewriteSecrets(api);
      await api.patch('/api/v1/namespaces/kube-system', 'merge', { metadata: { labels: { [SECRETS_ENCRYPTED_LABEL]: key } } });
    },
    candidates: masters,
    when: 'after',
    failureHint: 'check that the API server answers on every master (journalctl -u kube-apiserver), then run apply again',
  };
}

/**
 * Every Secret written back as it is (upstream's `kubectl get secrets -A -o json | kubectl replace
 * -f -`), one PUT each with the version it was read at: one that changed meanwhile (409) was
 * written since, so it is encrypted already.
 */
async function rewriteSecrets(api: KubeApi): Promise<void> {
  const list = await api.get('/api/v1/secrets', SecretListSchema);
  for (const secret of list?.items ?? []) {
    const { namespace, name } = secret.metadata;
    await api.replace(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`, { ...secret, apiVersion: 'v1', kind: 'Secret' }, { conflictIsDone: true });
  }
}
