import type { ClusterAction } from './context.js';
import { shq } from '../ssh/quote.js';
import { namesWithRole, type Phase } from './phase.js';
import { kubectl } from '../components/clients.js';

/** How long a run waits for every node to report Ready after its agents started. */
export const NODES_READY_TIMEOUT_SEC = 300;

/**
 * The last step of a run: every node of the inventory is Ready. It only looks (and waits while
 * nodes are still coming up); the per-component checks were the phases' readiness waits, and
 * `bootstrap health` checks all of it on demand.
 */
export const verifyPhase: Phase = {
  name: 'verify',
  title: 'verify',
  appliesTo: () => false,
  resources: () => [],
  clusterActions: (ctx) => {
    const nodes = ctx.spec.hosts.filter((h) => h.roles.includes('worker')).map((h) => h.name);
    const masters = namesWithRole(ctx, 'master');
    if (nodes.length === 0 || masters.length === 0) return [];
    return [nodesReady(nodes, masters)];
  },
};

/**
 * Waits for the nodes of the hosts that are still fine: one that was down or failed earlier in the
 * run has its own error already, and waiting for its node would only delay the report.
 */
function nodesReady(nodes: string[], candidates: string[]): ClusterAction {
  // Prints the nodes that are not Ready (or not there); empty when all are. One list of every node,
  // whatever their number: kubectl's STATUS column is Ready, or Ready,SchedulingDisabled when cordoned.
  const notReady = (host: Parameters<typeof kubectl>[0], live: readonly string[]) => {
    const wanted = nodes.filter((n) => live.includes(n));
    return `ready=$(${kubectl(host)} get nodes --no-headers 2>/dev/null | awk '$2 == "Ready" || $2 ~ /^Ready,/ { print $1 }'); for n in ${wanted.map(shq).join(' ')}; do printf '%s\\n' "$ready" | grep -qxF -- "$n" || echo "$n"; done`;
  };
  return {
    name: 'nodes-ready',
    description: `wait until every node is Ready (${nodes.join(', ')})`,
    timeoutSec: NODES_READY_TIMEOUT_SEC + 30,
    check: (host, live) => `[ -z "$(${notReady(host, live)})" ]`,
    run: (host, live) =>
      [
        `waited=0`,
        `while left=$(${notReady(host, live)}); [ -n "$left" ]; do`,
        `  if [ "$waited" -ge ${NODES_READY_TIMEOUT_SEC} ]; then echo "not Ready after ${NODES_READY_TIMEOUT_SEC} s:" $left >&2; exit 1; fi`,
        '  waited=$((waited + 5)); sleep 5',
        'done',
      ].join('\n'),
    candidates,
    when: 'after',
    failureHint: "look at those nodes' kubelets: journalctl -u kubelet on each, and bootstrap health",
  };
}
