import type { ClusterAction } from './context.js';
import { namesWithRole, readsRoles, type Phase } from './phase.js';
import { NodeListSchema, readyStatus } from '../cluster-api/kube-objects.js';
import { adminApi, readStateConfigMap, writeStateConfigMap } from './cluster-queries.js';
import { podCheckFor, podCheckNodes } from '../health/pod-check/run.js';
import { POD_CHECK_SECONDS, ROW_MARK } from '../health/pod-check/script.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { ClusterQuery, HostChannel } from '../engine/phase.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a run waits for every node to report Ready after its agents started. */
export const NODES_READY_TIMEOUT_SEC = 300;

/**
 * The last step of a run: every node of the inventory is Ready and, where nodes were coming up
 * (init, a node added) and VERIFY_PODS is true, pods work on them: the pod check of
 * `bootstrap health --deep` (a pod per node; DNS, pod-to-pod and Service traffic from each). It
 * only looks (and waits while nodes are still coming up); the per-component checks were the
 * phases' readiness waits, and `bootstrap health` checks all of it on demand.
 */
export const verifyPhase: Phase = {
  name: 'verify',
  title: 'verify',
  appliesTo: () => false,
  resources: () => [],
  // Waits on the nodes of the hosts the run read, asking a master.
  limitReads: readsRoles('master'),
  clusterActions: (ctx) => {
    const nodes = ctx.spec.hosts.filter((h) => h.roles.includes('worker')).map((h) => h.name);
    const masters = namesWithRole(ctx, 'master');
    if (nodes.length === 0 || masters.length === 0) return [];
    return [nodesReady(ctx.spec, nodes, masters), ...(ctx.spec.values.VERIFY_PODS === 'true' ? podsWork(ctx.spec, nodes, masters) : [])];
  },
};

/** The nodes among `wanted` that the API server does not list as Ready (cordoned ones count as Ready), asked by the controller through `host`'s connection. */
async function notReadyNodes(spec: ClusterSpec, host: HostSpec, channel: HostChannel, wanted: readonly string[]): Promise<string[]> {
  const list = await adminApi(spec, host, channel).get('/api/v1/nodes', NodeListSchema);
  const ready = new Set((list?.items ?? []).filter((n) => readyStatus(n) === 'True').map((n) => n.metadata.name));
  return wanted.filter((n) => !ready.has(n));
}

/** How often the wait asks again. */
const NODES_READY_POLL_MS = 5_000;

/**
 * Waits for the nodes of the hosts that are still fine: one that was down or failed earlier in the
 * run has its own error already, and waiting for its node would only delay the report. One node
 * list every few seconds, by the controller: nothing runs on the master.
 */
function nodesReady(spec: ClusterSpec, nodes: string[], candidates: string[]): ClusterAction {
  const wanted = (live: readonly string[]) => nodes.filter((n) => live.includes(n));
  return {
    name: 'nodes-ready',
    description: `wait until every node is Ready (${nodes.join(', ')})`,
    query: async (channel, host, live) => (await notReadyNodes(spec, host, channel, wanted(live))).length === 0,
    apply: async (channel, host, live) => {
      const deadline = Date.now() + NODES_READY_TIMEOUT_SEC * 1000;
      for (;;) {
        const left = await notReadyNodes(spec, host, channel, wanted(live));
        if (left.length === 0) return;
        if (Date.now() >= deadline) throw new Error(`not Ready after ${NODES_READY_TIMEOUT_SEC} s: ${left.join(' ')}`);
        await sleep(NODES_READY_POLL_MS);
      }
    },
    candidates,
    when: 'after',
    failureHint: "look at those nodes' kubelets: journalctl -u kubelet on each, and bootstrap health",
  };
}

/**
 * The nodes the pod check last passed on, one per line, kept in the cluster (ConfigMap
 * kube-system/kubestrap-pod-check): the check runs again when they are not the inventory's nodes
 * (init, a node added or removed, or a run whose check failed), so a no-op run stays one. Read and
 * written by the controller through the API; only the check itself runs on the master this round.
 */
export const POD_CHECK_STATE = 'pod-check';

/** Whether the pod check last passed on exactly the live nodes (a record the API cannot give reads as not). */
function passedQuery(spec: ClusterSpec): ClusterQuery<HostSpec> {
  return async (channel, host, live) => (await readStateConfigMap(adminApi(spec, host, channel), POD_CHECK_STATE))?.nodes === podCheckNodes(spec, live).join('\n');
}

/**
 * The pod check of health --deep, once the nodes are Ready, then its record: two actions, as the
 * check is a command on the master and the record the controller's request, and a failed action
 * stops the ones after it (a failed check is not recorded: it runs again next time). Its failure
 * lists each node's failed checks on stderr, worded as health --deep words them.
 */
function podsWork(spec: ClusterSpec, nodes: string[], candidates: string[]): ClusterAction[] {
  const failedRows = `awk -F '\\t' '$1 == "${ROW_MARK}" && $4 == "FAIL" { print $3 ": " $2 ": " $5 }'`;
  const query = passedQuery(spec);
  const check: ClusterAction = {
    name: 'pods-work',
    description: `run a pod on every node (${nodes.join(', ')}) and check DNS, pod-to-pod and Service traffic from each (namespace kubestrap-health, deleted after)`,
    timeoutSec: POD_CHECK_SECONDS + 30,
    query,
    run: (host, live) =>
      [
        `ks_out=$( ${podCheckFor(spec, host, podCheckNodes(spec, live))} ); ks_rc=$?`,
        `printf '%s\\n' "$ks_out" | ${failedRows} >&2`,
        `if [ "$ks_rc" -ne 0 ]; then echo 'pods do not work on every node (VERIFY_PODS=false leaves this check out; bootstrap health --deep runs it again)' >&2; exit 1; fi`,
      ].join('\n'),
    candidates,
    when: 'after',
    failureHint: 'each line names a node and what failed there; bootstrap health --deep runs the check again',
  };
  const record: ClusterAction = {
    name: 'pods-work-recorded',
    description: `record the nodes the pod check passed on (ConfigMap kube-system/kubestrap-${POD_CHECK_STATE}), so the next run does not run it again`,
    query,
    apply: (channel, host, live) => writeStateConfigMap(adminApi(spec, host, channel), POD_CHECK_STATE, { nodes: podCheckNodes(spec, live).join('\n') }),
    candidates,
    when: 'after',
  };
  return [check, record];
}
