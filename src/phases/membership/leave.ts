import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import type { KubestrapPhase } from '../context.js';
import { memberGone } from './member-gone.js';
import { nodeGone } from './node-gone.js';
import { resetPhases } from '../reset.js';
import { membershipFacts } from './members-fact.js';
import { membershipProblems } from './preflight.js';

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
