import { etcdctl, kubectl } from '../../components/clients.js';
import { LOCAL_ETCD } from '../../components/catalog.js';
import { memberOf, parseMemberList, type EtcdMember } from '../../components/etcd-members.js';
import type { HostSpec } from '../../config/cluster-spec.js';
import { defineFact, readFact } from '../../engine/facts.js';
import type { ClusterContext, ClusterHost } from '../context.js';

/**
 * What the running cluster says of its membership, read with the facts (one etcdctl call on each
 * etcd host, one kubectl call on each master), so that plan, the preflight and the cluster actions
 * all decide from the same answer before anything changes.
 */

/**
 * The member list as this host's own etcd reports it, as the health check (member list needs no
 * grant); undefined when it could not answer. etcd serves the list linearizably, so an answer also
 * says that this member is up and part of a quorum.
 */
export const MEMBERS_FACT = defineFact<EtcdMember[] | undefined, HostSpec>(
  'etcd-members',
  (host) => `${etcdctl(host, LOCAL_ETCD)} member list 2>/dev/null || echo '@@unknown'`,
  (out) => (out === undefined || out.includes('@@unknown') ? undefined : parseMemberList(out)),
);

/** The registered Nodes' names, asked on a master as its administrator; undefined when it could not answer. */
export const NODES_FACT = defineFact<string[] | undefined, HostSpec>(
  'cluster-nodes',
  (host) => `${kubectl(host)} get nodes -o name 2>/dev/null || echo '@@unknown'`,
  (out) => (out === undefined || out.includes('@@unknown') ? undefined : out.split('\n').flatMap((l) => (l.startsWith('node/') ? [l.slice('node/'.length).trim()] : []))),
);

/** Which facts a host reads for membership: the member list on etcd hosts, the Nodes on masters. */
export function membershipFacts(host: HostSpec): Array<typeof MEMBERS_FACT | typeof NODES_FACT> {
  return [...(host.roles.includes('etcd') ? [MEMBERS_FACT] : []), ...(host.roles.includes('master') ? [NODES_FACT] : [])];
}

/** The member list of the first etcd host that answered, with who answered: undefined when none did. */
export function reportedMembers(ctx: ClusterContext): { members: EtcdMember[]; answered: string[] } | undefined {
  const lists = ctx.hosts.filter((h) => h.host.roles.includes('etcd')).flatMap((h) => answer(h));
  if (lists.length === 0) return undefined;
  return { members: lists[0]!.members, answered: lists.map((l) => l.host) };
}

function answer(h: ClusterHost): Array<{ host: string; members: EtcdMember[] }> {
  const members = readFact(h.facts, MEMBERS_FACT);
  return members ? [{ host: h.host.name, members }] : [];
}

/** Whether `host` is a member of the list (by name once started, by peer URL before). */
export function isMember(members: readonly EtcdMember[], host: HostSpec): boolean {
  return memberOf(members, host) !== undefined;
}
