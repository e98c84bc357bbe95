import type { HostSpec } from '../config/cluster-spec.js';
import { kubectl } from '../components/clients.js';
import type { HostBatches } from '../engine/host-batches.js';
import { shq } from '../ssh/quote.js';
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
 */
export const DRAINED_ANNOTATION = 'kubestrap.io/drained';
/** How long a drain may wait for pods to leave (PodDisruptionBudgets may hold them). */
export const DRAIN_TIMEOUT_SEC = 300;
/** How long a restarted node may take to say Ready. */
const READY_TIMEOUT_SEC = 180;

const annotationPath = `{.metadata.annotations.${DRAINED_ANNOTATION.replaceAll('.', '\\.')}}`;
const readyPath = '{.status.conditions[?(@.type=="Ready")].status}';

function drainScript(target: HostSpec, on: HostSpec): string {
  const k = kubectl(on);
  const node = shq(target.name);
  return [
    // A node not registered yet (a new host) has nothing to drain.
    `${k} get node ${node} >/dev/null 2>&1 || { echo "node ${target.name} is not registered: nothing to drain"; exit 0; }`,
    // Marked only when schedulable now: what an operator cordoned is theirs to uncordon.
    `[ "$(${k} get node ${node} -o jsonpath='{.spec.unschedulable}')" = true ] || ${k} annotate node ${node} ${shq(`${DRAINED_ANNOTATION}=true`)} --overwrite`,
    `${k} drain ${node} --ignore-daemonsets --delete-emptydir-data --timeout=${DRAIN_TIMEOUT_SEC}s`,
  ].join('\n');
}

/** Waits for the node's Ready condition, then uncordons it if kubestrap cordoned it. */
function uncordonScript(target: HostSpec, on: HostSpec): string {
  const k = kubectl(on);
  const node = shq(target.name);
  return [
    `${k} get node ${node} >/dev/null 2>&1 || { echo "node ${target.name} is not registered: nothing to uncordon"; exit 0; }`,
    `i=0; until [ "$(${k} get node ${node} -o jsonpath=${shq(readyPath)} 2>/dev/null)" = True ]; do`,
    `  i=$((i + 2)); [ $i -le ${READY_TIMEOUT_SEC} ] || { echo "node ${target.name} is not Ready after ${READY_TIMEOUT_SEC} s"; exit 1; }; sleep 2`,
    'done',
    `[ -z "$(${k} get node ${node} -o jsonpath=${shq(annotationPath)})" ] || { ${k} uncordon ${node} && ${k} annotate node ${node} ${shq(`${DRAINED_ANNOTATION}-`)}; }`,
  ].join('\n');
}

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
      script: drainScript,
      timeoutSec: DRAIN_TIMEOUT_SEC + 30,
      failureHint:
        'see which pods would not leave (kubectl get pods -A -o wide --field-selector spec.nodeName=NODE) and their PodDisruptionBudgets; the node is cordoned: the next apply continues from it',
    },
    after: {
      describe: (t) => `uncordon node ${t.name} once Ready`,
      script: uncordonScript,
      timeoutSec: READY_TIMEOUT_SEC + 30,
      failureHint: 'the node stays cordoned; look at its kubelet (journalctl -u kubelet) and run apply again: it uncordons the node once it is Ready',
    },
  };
}

/** Nodes that a stopped run drained and did not put back: uncordoned once Ready (the check rides in the master's probe). */
export function leftCordonedAction(ctx: ClusterContext): ClusterAction {
  // `name=true=True` for a marked, Ready node.
  const marked = (on: HostSpec) => `${kubectl(on)} get nodes -o jsonpath=${shq(`{range .items[*]}{.metadata.name}=${annotationPath}=${readyPath}{"\\n"}{end}`)} | sed -n 's/=true=True$//p'`;
  return {
    name: 'uncordon-left-drained',
    description: `uncordon the nodes an interrupted run left drained (annotation ${DRAINED_ANNOTATION}), once Ready`,
    // An API server that does not answer yet (a new cluster) has no node to put back.
    check: (on) => `out=$(${marked(on)}) || exit 0; [ -z "$out" ]`,
    run: (on) => [`for n in $(${marked(on)}); do`, `  ${kubectl(on)} uncordon "$n" && ${kubectl(on)} annotate node "$n" ${shq(`${DRAINED_ANNOTATION}-`)} || exit 1`, 'done'].join('\n'),
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
