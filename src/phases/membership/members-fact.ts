import { etcdApiOn, kubeApiOn } from '../../cluster-api/cluster-apis.js';
import type { EtcdMember as ListedMember } from '../../cluster-api/etcd-api.js';
import { NodeListSchema } from '../../cluster-api/kube-objects.js';
import { clientIdentity } from '../../pki/client-identities.js';
import { memberOf, parseMemberList, type EtcdMember } from '../../components/etcd-members.js';
import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import { defineQueryFact, readFact, type FactQuery } from '../../engine/facts.js';
import type { ClusterContext, ClusterHost } from '../context.js';

/**
 * What the running cluster says of its membership, read with the facts (the controller asks each
 * etcd host's etcd and each master's API server itself, through their connections, alongside
 * their fact commands: no process on the host), so that plan, the preflight and the cluster actions
 * all decide from the same answer before anything changes.
 */

/**
 * The member list as this host's own etcd reports it, asked as the health check (member list needs
 * no grant); undefined when it could not answer. etcd serves the list linearizably, so an answer
 * also says that this member is up and part of a quorum. Kept as etcdctl's simple format
 * (components/etcd-members.ts reads it), which is what the fact read before it was asked over gRPC.
 */
export const MEMBERS_FACT = defineQueryFact<EtcdMember[] | undefined, HostSpec, ClusterSpec>(
  'etcd-members',
  // Only an etcd host has a member to ask: the others have no answer, as before.
  (host, spec) => (host.roles.includes('etcd') ? async (channel) => (await etcdApiOn(host, channel, clientIdentity(spec, 'etcdHealthcheck')).memberList()).map(memberLine).join('\n') : undefined),
  (out) => (out === undefined ? undefined : parseMemberList(out)),
);

/** A member as a line of `etcdctl member list`: id, status, name, peer URLs, client URLs, is learner. */
function memberLine(m: ListedMember): string {
  return [m.id, m.started ? 'started' : 'unstarted', m.name, m.peerUrls.join(','), m.clientUrls.join(','), String(m.isLearner)].join(', ');
}

/** The registered Nodes' names, asked of a master's API server as its administrator; undefined when it could not answer. */
export const NODES_FACT = defineQueryFact<string[] | undefined, HostSpec, ClusterSpec>(
  'cluster-nodes',
  (host, spec) => (host.roles.includes('master') ? nodeNames(host, spec) : undefined),
  (out) => (out === undefined ? undefined : out.split('\n').flatMap((l) => (l.startsWith('node/') ? [l.slice('node/'.length).trim()] : []))),
);

function nodeNames(host: HostSpec, spec: ClusterSpec): FactQuery {
  return async (channel) => {
    const list = await kubeApiOn(spec, host, channel, clientIdentity(spec, 'kubeAdmin')).get('/api/v1/nodes', NodeListSchema);
    if (!list) throw new Error('the API server has no node list');
    // As `kubectl get nodes -o name` printed them, which the fact read before it was asked over HTTPS.
    return list.items.map((n) => `node/${n.metadata.name}`).join('\n');
  };
}

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
