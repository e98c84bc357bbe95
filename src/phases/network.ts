import { runsOn } from '../components/catalog.js';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import type { Resource } from '../engine/resource.js';
import { FLANNEL_USER } from '../pki/catalog.js';
import { fileResource } from './file-resource.js';
import { filesOf, namesWithRole, readsRoles, type Phase, type PhaseContext } from './phase.js';
import { clusterRecord, legacyRecordGone } from './record.js';
import { runningService } from './services.js';
import { adminApi, etcdAs, exists } from './cluster-queries.js';
import { objectPath, serverSideApply } from '../cluster-api/apply.js';

/** What flanneld in kube mode may do through the API server (upstream's kube-flannel RBAC). */
export const FLANNEL_ROLE = 'kubestrap:flannel';

/**
 * flannel on every node (masters and workers), as the seeds set it up, with current versions: the
 * network configuration lives in etcd under FLANNEL_ETCD_PREFIX/config (written once, before any
 * flanneld starts, only when it differs) and each flanneld takes its subnet lease there over TLS.
 * With FLANNEL_MODE=kube, flanneld takes the node's podCIDR through the API server instead.
 * The flannel CNI configuration goes to the nodes that run pods.
 */
export const networkPhase: Phase = {
  name: 'network',
  title: 'pod network (flannel)',
  appliesTo: (host) => host.roles.includes('master') || host.roles.includes('worker'),
  resources: ({ spec, host, files }: PhaseContext): Resource[] =>
    !runsOn(spec, host, 'flanneld') ? [legacyRecordGone('network')] : [...filesOf('network', files).map(fileResource), runningService(spec, host, 'flanneld'), legacyRecordGone('network')],
  record: ({ spec, host }) => (runsOn(spec, host, 'flanneld') ? clusterRecord(spec, { flannel: spec.values.FLANNEL_VERSION!, mode: spec.values.FLANNEL_MODE! }) : {}),
  clusterActions: (ctx) => (ctx.spec.values.FLANNEL_MODE === 'kube' ? [flannelAccess(ctx)] : [networkConfig(ctx)]),
  // The candidates of its cluster action: masters (kube mode) or etcd members.
  limitReads: readsRoles('master', 'etcd'),
};

/** The rendered network configuration (the same on every node). */
function netConf(ctx: ClusterContext): string | undefined {
  for (const h of ctx.hosts) {
    const file = h.files.find((f) => f.path === HOST_PATHS.flannelNetConf);
    if (file) return file.content;
  }
  return undefined;
}

/** flanneld reads PREFIX/config once at start: it is written before any flanneld starts, and only when it differs. */
function networkConfig(ctx: ClusterContext): ClusterAction {
  const key = `${ctx.spec.values.FLANNEL_ETCD_PREFIX}/config`;
  // One line, as flannel's own docs write it; the comparison is on exactly this text.
  const value = JSON.stringify(JSON.parse(netConf(ctx) ?? '{}'));
  // As etcd's root: flanneld's own user may write there too, but its certificate is on the nodes, not the members.
  return {
    name: 'flannel-network-config',
    description: `write flannel's network ${value} to etcd at ${key}`,
    query: async (channel, host) => {
      const read = await etcdAs(ctx.spec, host, channel, 'etcdAdmin').get(key);
      return read.kind === 'value' && read.value === value;
    },
    apply: (channel, host) => etcdAs(ctx.spec, host, channel, 'etcdAdmin').put(key, value),
    candidates: namesWithRole(ctx, 'etcd'),
    when: 'before',
    failureHint: 'check that etcd is healthy on that member (bootstrap health, journalctl -u etcd)',
  };
}

/** In kube mode flanneld reads nodes and patches their status through the API server, as upstream's kube-flannel role allows. */
function flannelAccess(ctx: ClusterContext): ClusterAction {
  const objects = [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: FLANNEL_ROLE },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: FLANNEL_ROLE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FLANNEL_ROLE },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: FLANNEL_USER }],
    },
  ];
  return {
    name: 'flannel-access',
    description: `let flanneld (${FLANNEL_USER}) read nodes and patch their status`,
    query: async (channel, host) => {
      const api = adminApi(ctx.spec, host, channel);
      const found = await Promise.all(objects.map((o) => exists(api, objectPath(o))));
      return found.every(Boolean);
    },
    apply: (channel, host) => serverSideApply(adminApi(ctx.spec, host, channel), objects),
    candidates: namesWithRole(ctx, 'master'),
    when: 'before',
    failureHint: 'check that the API server answers on that master (journalctl -u kube-apiserver)',
  };
}
