import { componentPhase } from './component-phase.js';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterAction, ClusterContext } from './context.js';
import { LISTENERS_FACT } from '../preflight/ports.js';
import { namesWithRole, readsRoles, type Phase } from './phase.js';
import { withNodeDrain } from './node-drain.js';
import { kubeletResolvConf, RESOLV_CONF_FACT } from './resolv-conf.js';
import { NodeSchema, type Node } from '../cluster-api/kube-objects.js';
import type { KubeApi } from '../cluster-api/kube-api.js';
import { adminApi } from './cluster-queries.js';

export const CONTROL_PLANE_ROLE_LABEL = 'node-role.kubernetes.io/control-plane';

/**
 * The node agents on hosts with the worker role (a master may have it too): the kubelet, with its
 * config file and serving certificate, waited on until its node is registered (which proves its
 * identity and the API server's certificate); kube-proxy with its config; on a node in service,
 * the runtime's restarts (see `feeds`). Masters among them carry the control-plane role label, and
 * its taint unless MASTER_SCHEDULABLE=true. The kubelet's resolv.conf follows the host's
 * (KUBELET_RESOLV_CONF, see resolv-conf.ts).
 */
const nodeAgents: Phase = componentPhase(
  {
    name: 'workers',
    title: 'node agents (kubelet, kube-proxy)',
    role: 'worker',
    directories: [
      { path: HOST_PATHS.kubeletDir, mode: 0o700 },
      { path: HOST_PATHS.kubeProxyDir, mode: 0o755 },
    ],
    services: ['kubelet', 'kube-proxy'],
    // A restart of the runtime owed by the runtime phase (a new binary, a new config) happens here,
    // in the node's drain, before the kubelet's (a new kubelet may need the new containerd): a node
    // is drained once for all. Docker after containerd: a new dockerd must not start against the
    // old containerd still running (their binaries change together); a Docker-only change (a
    // registry mirror) drains the node too, which costs time and keeps the order simple.
    feeds: ['containerd', 'docker'],
  },
  {
    facts: [LISTENERS_FACT, RESOLV_CONF_FACT],
    hostValues: (_host, facts) => ({ KUBELET_RESOLV_CONF: kubeletResolvConf(facts) }),
    clusterActions: (ctx) => ctx.hosts.filter((h) => h.host.roles.includes('master') && h.host.roles.includes('worker')).flatMap((h) => masterNodeActions(ctx, h.host.name)),
    // The masters: candidates of its cluster actions and of the drain's steps.
    limitReads: readsRoles('master'),
  },
);

/** The node agents' phase, its nodes drained around their restarts `maxUnavailable` at a time (node-drain.ts). */
export function createWorkersPhase(maxUnavailable = 1): Phase {
  return withNodeDrain(nodeAgents, maxUnavailable);
}

export const workersPhase: Phase = createWorkersPhase();

/**
 * A master that runs pods says so by its role label (which a kubelet may not set on itself) and,
 * unless masters take ordinary pods, by the control-plane taint. The kubelet registers the taint
 * itself; these keep both right when MASTER_SCHEDULABLE changes later.
 */
function masterNodeActions(ctx: ClusterContext, node: string): ClusterAction[] {
  const candidates = namesWithRole(ctx, 'master');
  const tainted = ctx.spec.values.MASTER_SCHEDULABLE !== 'true';
  const path = `/api/v1/nodes/${encodeURIComponent(node)}`;
  const nodeObject = (api: KubeApi) => api.get(path, NodeSchema);
  return [
    {
      name: `control-plane-label:${node}`,
      description: `label node ${node} ${CONTROL_PLANE_ROLE_LABEL}`,
      query: async (channel, host) => (await nodeObject(adminApi(ctx.spec, host, channel)))?.metadata.labels[CONTROL_PLANE_ROLE_LABEL] !== undefined,
      // A merge patch of the one label: the node's other labels stay as they are (`kubectl label --overwrite`).
      apply: (channel, host) => adminApi(ctx.spec, host, channel).patch(path, 'merge', { metadata: { labels: { [CONTROL_PLANE_ROLE_LABEL]: '' } } }),
      candidates,
      when: 'after',
    },
    {
      name: `control-plane-taint:${node}`,
      description: tainted ? `taint node ${node} ${CONTROL_PLANE_ROLE_LABEL}:NoSchedule` : `remove the ${CONTROL_PLANE_ROLE_LABEL} taint from node ${node} (MASTER_SCHEDULABLE=true)`,
      query: async (channel, host) => {
        const found = await nodeObject(adminApi(ctx.spec, host, channel));
        // No node yet: the label action's apply fails first and says so.
        return found !== undefined && found.spec.taints.some((t) => t.key === CONTROL_PLANE_ROLE_LABEL) === tainted;
      },
      apply: async (channel, host) => {
        const api = adminApi(ctx.spec, host, channel);
        const found = await nodeObject(api);
        if (!found) throw new Error(`node ${node} is not registered: its kubelet has not joined (journalctl -u kubelet on ${node})`);
        await api.patch(path, 'merge', taintPatch(found, tainted));
      },
      candidates,
      when: 'after',
    },
  ];
}

/**
 * The node's taints with the control-plane taint added (NoSchedule) or taken out, the others as
 * they are: taints are one list the API replaces whole (no merge key), so the patch carries the
 * resourceVersion it was read at and fails, rather than drop a taint added meanwhile, as `kubectl
 * taint` does.
 */
export function taintPatch(node: Node, tainted: boolean): unknown {
  const others = node.spec.taints.filter((t) => t.key !== CONTROL_PLANE_ROLE_LABEL);
  const taints = tainted ? [...others, { key: CONTROL_PLANE_ROLE_LABEL, effect: 'NoSchedule' }] : others;
  return { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { taints } };
}
