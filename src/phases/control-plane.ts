import { componentPhase } from './component-phase.js';
import { HOST_PATHS, PKI_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import { shJoin, shq } from '../ssh/quote.js';
import { namesWithRole, readsRoles, type Phase } from './phase.js';
import { kubectl } from '../components/clients.js';
import { ObjectSchema } from '../cluster-api/kube-objects.js';
import { encryptionKeyName } from '../pki/client-identities.js';
import { adminApi, exists } from './cluster-queries.js';

/** The API server's client certificate for kubelets (its CN, see pki/catalog.ts) and the binding that lets it reach them. */
const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';
export const KUBELET_API_BINDING = 'kubestrap:apiserver-kubelet-client';
/** On the kube-system namespace: the key every Secret was last written with, so the rewrite happens once per key. */
export const SECRETS_ENCRYPTED_LABEL = 'kubestrap.io/secrets-encrypted-with';

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
        check: (host) => `${kubectl(host)} get clusterrolebinding ${KUBELET_API_BINDING} -o name`,
        query: (channel, host) => exists(adminApi(ctx.spec, host, channel), `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${KUBELET_API_BINDING}`),
        run: (host) => `${kubectl(host)} ${shJoin(['create', 'clusterrolebinding', KUBELET_API_BINDING, '--clusterrole=system:kubelet-api-admin', `--user=${KUBELET_CLIENT_USER}`])}`,
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
 * labelled with the key, read from the master's own config, so this happens once per key.
 */
function encryptExistingSecrets(ctx: ClusterContext): ClusterAction {
  const masters = namesWithRole(ctx, 'master');
  const keyName = `ks_key=$(sed -n 's/^ *- name: *//p' ${shq(PKI_PATHS.encryptionConfig)} 2>/dev/null | head -n 1)`;
  return {
    name: 'encrypt-existing-secrets',
    description: 'write every Secret again, so that those stored before encryption at rest are encrypted too',
    check: (host) => [keyName, `[ -z "$ks_key" ] || ${kubectl(host)} get namespaces -l "${SECRETS_ENCRYPTED_LABEL}=$ks_key" -o name | grep -qx namespace/kube-system`].join('\n'),
    // The key the run deploys, from the local PKI: the masters' config says the same once the pki phase ran.
    query: async (channel, host) => {
      const key = encryptionKeyName(ctx.spec);
      if (!key) return true;
      const ns = await adminApi(ctx.spec, host, channel).get('/api/v1/namespaces/kube-system', ObjectSchema);
      return ns?.metadata.labels[SECRETS_ENCRYPTED_LABEL] === key;
    },
    run: (host, live) => {
      const waiting = masters.filter((m) => !live.includes(m));
      // A master still on the old configuration could neither read what the others encrypt nor encrypt what it writes.
      if (waiting.length) return `echo ${shq(`not every master runs with the encryption config yet (${waiting.join(', ')}): Secrets are rewritten once all do`)} >&2; exit 1`;
      return [
        'set -e',
        keyName,
        `${kubectl(host)} get secrets --all-namespaces -o json | ${kubectl(host)} replace -f - >/dev/null`,
        `${kubectl(host)} label namespace kube-system --overwrite "${SECRETS_ENCRYPTED_LABEL}=$ks_key" >/dev/null`,
      ].join('\n');
    },
    candidates: masters,
    when: 'after',
    failureHint: 'check that the API server answers on every master (journalctl -u kube-apiserver), then run apply again',
  };
}
