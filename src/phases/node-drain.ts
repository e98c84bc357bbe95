import type { HostSpec } from '../config/cluster-spec.js';
import { drainNode, markedReadyNodes, uncordon, uncordonWhenReady } from '../cluster-api/node-drain.js';
import type { HostBatches } from '../engine/host-batches.js';
import { adminApi } from './cluster-queries.js';
import type { ClusterAction, ClusterContext } from './context.js';
import { namesWithRole, type Phase } from './phase.js';

/**
 * A node whose kubelet or kube-proxy is about to restart (an upgrade, a config edit) is drained
 * first and uncordoned once Ready again, `maxUnavailable` nodes at a time (k0sctl's order for
 * workers, kubernetes/website's "Upgrading a node": drain, upgrade, uncordon). The drain goes
 * through the eviction API, so PodDisruptionBudgets hold, and gives up after DRAIN_TIMEOUT_SEC:
 * that node fails, the nodes not reached yet stay as they are, and the next apply continues.
 *
 * kubestrap marks a node it cordons with an annotation, so that it uncordons only what it cordoned
 * (a node an operator cordoned stays cordoned), and so that a run stopped between the drain and the
 * uncordon (a SIGKILL, a lost connection) is finished by the next one: a cluster action uncordons
 * every Ready node that still carries the mark.
 *
 * Every step is the controller's own requests to the API server (cluster-api/node-drain.ts),
 * through the chosen master's SSH connection: no kubectl starts on it.
 */
export const DRAINED_ANNOTATION = 'kubestrap.io/drained';
/** How long a drain may wait for pods to leave (PodDisruptionBudgets may hold them). */
export const DRAIN_TIMEOUT_SEC = 300;
/** How long a restarted node may take to say Ready. */
const READY_TIMEOUT_SEC = 180;

/** The nodes, `size` at a time, drained before and uncordoned after their changes, by the first master that answers. */
export function nodeBatches(ctx: ClusterContext, size: number): HostBatches<HostSpec> {
  return {
    size,
    candidates: namesWithRole(ctx, 'master'),
    // A node the workers phase made before and keeps: a new host has no node to drain yet, and one
    // that loses its worker role stops its kubelet for good (it would never be Ready to uncordon).
    serving: (host, facts) => host.roles.includes('worker') && facts.record.has('workers'),
    before: {
      describe: (t) => `drain node ${t.name} (PodDisruptionBudgets respected, ${DRAIN_TIMEOUT_SEC} s at most)`,
      // A node not registered yet (a new host) has nothing to drain.
      apply: async (channel, target, on) => void (await drainNode(adminApi(ctx.spec, on, channel), target.name, { timeoutSec: DRAIN_TIMEOUT_SEC, mark: DRAINED_ANNOTATION })),
      timeoutSec: DRAIN_TIMEOUT_SEC + 30,
      failureHint:
        'see which pods would not leave (kubectl get pods -A -o wide --field-selector spec.nodeName=NODE) and their PodDisruptionBudgets; the node is cordoned: the next apply continues from it',
    },
    after: {
      describe: (t) => `uncordon node ${t.name} once Ready`,
      apply: async (channel, target, on) => void (await uncordonWhenReady(adminApi(ctx.spec, on, channel), target.name, DRAINED_ANNOTATION, { timeoutSec: READY_TIMEOUT_SEC })),
      timeoutSec: READY_TIMEOUT_SEC + 30,
      failureHint: 'the node stays cordoned; look at its kubelet (journalctl -u kubelet) and run apply again: it uncordons the node once it is Ready',
    },
  };
}

/** Nodes that a stopped run drained and did not put back: uncordoned once Ready (the look is one node list by the controller). */
export function leftCordonedAction(ctx: ClusterContext): ClusterAction {
  return {
    name: 'uncordon-left-drained',
    description: `uncordon the nodes an interrupted run left drained (annotation ${DRAINED_ANNOTATION}), once Ready`,
    // An API server that does not answer yet (a new cluster) has no node to put back.
    query: async (channel, on) => (await markedReadyNodes(adminApi(ctx.spec, on, channel), DRAINED_ANNOTATION).catch(() => [])).length === 0,
    apply: async (channel, on) => {
      const api = adminApi(ctx.spec, on, channel);
      for (const node of await markedReadyNodes(api, DRAINED_ANNOTATION)) await uncordon(api, node, DRAINED_ANNOTATION);
    },
    candidates: namesWithRole(ctx, 'master'),
    when: 'after',
  };
}

/** The node agents' phase with its nodes drained around their restarts, `maxUnavailable` at a time. */
export function withNodeDrain(phase: Phase, maxUnavailable: number): Phase {
  return {
    ...phase,
    batches: (ctx) => nodeBatches(ctx, maxUnavailable),
    clusterActions: (ctx) => [...(phase.clusterActions?.(ctx) ?? []), leftCordonedAction(ctx)],
  };
}
