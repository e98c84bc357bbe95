import { memberOf, type EtcdMember } from '../../components/etcd-members.js';
import type { HostSpec } from '../../config/cluster-spec.js';
import { readFact } from '../../engine/facts.js';
import { HostError, type KubestrapError } from '../../errors.js';
import type { ClusterContext } from '../context.js';
import { etcdData } from '../etcd-data.js';
import { needsJoin } from './etcd-join.js';
import { MEMBERS_FACT, reportedMembers } from './members-fact.js';
import { quorumProblem } from './quorum.js';

/**
 * What membership refuses before anything changes: a host to remove that does not answer (unless
 * forgotten), more than one etcd member added or removed in one run, and an etcd change that would
 * leave the cluster without a quorum. Hosts that were never members need nothing and pass.
 */
export function membershipProblems(ctx: ClusterContext, forget: readonly string[]): KubestrapError[] {
  return [...unreachableLeaving(ctx, forget), ...etcdChangeProblems(ctx)];
}

function unreachableLeaving(ctx: ClusterContext, forget: readonly string[]): HostError[] {
  return ctx.spec.leaving
    .filter((h) => !forget.includes(h.name) && !ctx.hosts.some((c) => c.host.name === h.name))
    .map(
      (h) =>
        new HostError(
          h.name,
          'is marked remove: true but did not answer, so what kubestrap installed there cannot be removed',
          {},
          `if it is coming back, start it and apply again; if it is gone for good, apply --forget ${h.name}: the cluster forgets it (its Node, its etcd member, every endpoint) and the host is left as it is`,
        ),
    );
}

interface EtcdChange {
  host: HostSpec;
  kind: 'add' | 'remove';
}

function etcdChangeProblems(ctx: ClusterContext): KubestrapError[] {
  const reachable = ctx.hosts.filter((h) => h.host.roles.includes('etcd'));
  const reported = reportedMembers(ctx);
  const leavingMembers = (members: readonly EtcdMember[]) => ctx.spec.leaving.filter((h) => h.roles.includes('etcd') && memberOf(members, h));
  if (!reported) {
    // No member answered: a cluster with data cannot be changed; a new one (no data anywhere) is founded by the etcd phase.
    const founded = reachable.some((h) => etcdData(h).hasMember);
    const waiting = [
      ...reachable.filter((h) => !h.host.leaving && !etcdData(h).hasMember).map((h) => `${h.host.name} (to join)`),
      ...ctx.spec.leaving.filter((h) => h.roles.includes('etcd')).map((h) => `${h.name} (to remove)`),
    ];
    if (!founded || waiting.length === 0) return [];
    return [
      new HostError(
        waiting.join(', '),
        'no etcd member answered the member list, so etcd membership cannot change in this run',
        {},
        'bring the etcd members back first (bootstrap health names them; a plain apply restarts them once this change is undone in the inventory), then apply again',
      ),
    ];
  }
  const changes: EtcdChange[] = [
    ...reachable.filter((h) => !h.host.leaving && needsJoin(h, reported.members)).map((h) => ({ host: h.host, kind: 'add' as const })),
    ...leavingMembers(reported.members).map((host) => ({ host, kind: 'remove' as const })),
  ];
  if (changes.length > 1) {
    const listed = changes.map((c) => `${c.kind} ${c.host.name}`).join(', ');
    return [
      new HostError(
        changes.map((c) => c.host.name).join(', '),
        `${changes.length} etcd membership changes in one run (${listed}): etcd changes one member at a time, each started and healthy before the next`,
        {},
        `apply one change at a time: keep only ${describe(changes[0]!)} in the inventory for this apply, then bring back the next one (${changes.slice(1).map(describe).join('; ')}) and apply again`,
      ),
    ];
  }
  const change = changes[0];
  if (!change) return [];
  const problem = quorumProblem(quorumCase(ctx, reported.members, change));
  if (!problem) return [];
  return [
    new HostError(
      change.host.name,
      problem,
      {},
      change.kind === 'remove'
        ? 'bring the members that do not answer back first (bootstrap health names them), or add a member before removing this one'
        : 'bring the members that do not answer back first (bootstrap health names them), or remove the dead ones (remove: true, with --forget) before adding',
    ),
  ];
}

function describe(c: EtcdChange): string {
  return c.kind === 'add' ? `the etcd role of ${c.host.name}` : `remove: true on ${c.host.name}`;
}

/** Members that answer: started, and their own host read the member list with the facts. */
function quorumCase(ctx: ClusterContext, members: readonly EtcdMember[], change: EtcdChange): Parameters<typeof quorumProblem>[0] {
  const answering = members.filter((m) => m.started && ctx.hosts.some((h) => memberOf([m], h.host) && readFact(h.facts, MEMBERS_FACT) !== undefined));
  const removedAnswers = change.kind === 'remove' && answering.some((m) => memberOf([m], change.host));
  const alreadyListed = change.kind === 'add' && memberOf(members, change.host) !== undefined;
  const membersAfter = change.kind === 'remove' ? members.length - 1 : members.length + (alreadyListed ? 0 : 1);
  return {
    change: `${change.kind === 'add' ? 'adding' : 'removing'} etcd member ${change.host.name}`,
    membersNow: members.length,
    healthyNow: answering.length,
    membersAfter,
    healthyAfter: answering.length - (removedAnswers ? 1 : 0),
  };
}
