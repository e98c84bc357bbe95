import { etcdctl, kubectl } from '../../components/clients.js';
import { LOCAL_ETCD } from '../../components/catalog.js';
import { peerUrl } from '../../components/etcd-members.js';
import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import { shq } from '../../ssh/quote.js';
import type { ClusterAction, KubestrapPhase } from '../context.js';
import { resetPhases } from '../reset.js';
import { membershipFacts } from './members-fact.js';
import { membershipProblems } from './preflight.js';

/** How long a drain may wait for its pods to go (PodDisruptionBudgets may hold them); past it, the run fails with nothing removed. */
const DRAIN_TIMEOUT_SEC = 120;

/**
 * Hosts marked `remove: true` leave the cluster in the run that follows every bring-up phase (which
 * ignore them: the rest of the cluster, etcd endpoints, API servers and /etc/hosts, is updated
 * first): on a remaining master, each one's Node is drained and deleted; on a remaining etcd member,
 * its member is removed (`etcdctl member remove`) while its etcd still runs; then what kubestrap
 * installed on it is taken off as `reset` does (from its record; its etcd data too, as its member
 * is gone). A host named in `forget` is not contacted: the cluster side alone is done.
 */
export function leavePhases(spec: ClusterSpec, forget: readonly string[]): KubestrapPhase[] {
  const leaving = (h: HostSpec) => h.leaving === true;
  const teardown = resetPhases({ deleteEtcdData: true, restoreOs: false }).map((p) => ({ ...p, appliesTo: leaving, ignores: (h: HostSpec) => !leaving(h) }));
  return [membershipPhase(spec, forget), ...teardown];
}

/** Bring-up phases leave the hosts that are leaving to leavePhases. */
export function forRemainingHosts<P extends KubestrapPhase>(phase: P): P {
  return { ...phase, ignores: (h: HostSpec) => h.leaving === true };
}

function membershipPhase(spec: ClusterSpec, forget: readonly string[]): KubestrapPhase {
  return {
    name: 'membership',
    title: 'hosts marked remove: true leave the cluster',
    appliesTo: () => false,
    facts: membershipFacts,
    resources: () => [],
    preflight: (ctx) => membershipProblems(ctx, forget),
    clusterActions: () => spec.leaving.flatMap((h) => [...(isNode(h) ? [nodeGone(spec, h, forget.includes(h.name))] : []), ...(h.roles.includes('etcd') ? [memberGone(spec, h)] : [])]),
  };
}

function isNode(h: HostSpec): boolean {
  return h.roles.includes('master') || h.roles.includes('worker');
}

function namesWith(spec: ClusterSpec, role: HostSpec['roles'][number]): string[] {
  return spec.hosts.filter((h) => h.roles.includes(role)).map((h) => h.name);
}

/**
 * Its Node drained (evictions respect PodDisruptionBudgets; DaemonSets' pods stay, emptyDir data
 * goes) and deleted. A forgotten host's kubelet cannot confirm that pods stopped, so its Node is
 * deleted without a drain: its pods are then rescheduled elsewhere.
 */
function nodeGone(spec: ClusterSpec, leaving: HostSpec, forgotten: boolean): ClusterAction {
  const name = shq(leaving.name);
  const present = (k: string) => `ks_node=$(${k} get node ${name} -o name --ignore-not-found) && [ -n "$ks_node" ]`;
  const drain = (k: string) => `${k} drain ${name} --ignore-daemonsets --delete-emptydir-data --timeout=${DRAIN_TIMEOUT_SEC}s`;
  return {
    name: `node-gone:${leaving.name}`,
    description: forgotten
      ? `delete Node ${leaving.name} (not drained: the host is forgotten, --forget)`
      : `drain Node ${leaving.name} (--ignore-daemonsets --delete-emptydir-data, PodDisruptionBudgets respected) and delete it`,
    check: (h) => `ks_node=$(${kubectl(h)} get node ${name} -o name --ignore-not-found) && [ -z "$ks_node" ]`,
    run: (h) => `set -e\nif ${present(kubectl(h))}; then ${forgotten ? '' : `${drain(kubectl(h))}; `}${kubectl(h)} delete node ${name}; fi`,
    candidates: namesWith(spec, 'master'),
    when: 'before',
    timeoutSec: DRAIN_TIMEOUT_SEC + 60,
    failureHint: `see which pods held the drain (kubectl get pods -A -o wide --field-selector spec.nodeName=${leaving.name}) and their PodDisruptionBudgets; apply again once they can move`,
  };
}

/** Its etcd member removed on a remaining member, as etcd's root, before its etcd stops. */
function memberGone(spec: ClusterSpec, leaving: HostSpec): ClusterAction {
  // A line of `member list` is `id, status, name, peer URLs, client URLs, is learner`.
  const match = `awk -F', ' -v n=${shq(leaving.name)} -v u=${shq(peerUrl(leaving))} '$3 == n || $4 == u { print $1 }'`;
  return {
    name: `etcd-member-remove:${leaving.name}`,
    description: `etcdctl member remove ${leaving.name} (${peerUrl(leaving)})`,
    check: (h) => `ks_list=$(${etcdctl(h, LOCAL_ETCD, 'admin')} member list) && [ -z "$(printf '%s\\n' "$ks_list" | ${match})" ]`,
    run: (h) => `set -e\nks_id=$(${etcdctl(h, LOCAL_ETCD, 'admin')} member list | ${match})\n[ -z "$ks_id" ] || ${etcdctl(h, LOCAL_ETCD, 'admin')} member remove "$ks_id"`,
    candidates: namesWith(spec, 'etcd'),
    when: 'before',
    failureHint: 'check that the remaining etcd members are healthy (bootstrap health) and keep a quorum without this one',
  };
}
