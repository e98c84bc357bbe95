import { etcdApiOn } from '../../cluster-api/cluster-apis.js';
import type { EtcdApi } from '../../cluster-api/etcd-api.js';
import type { OpenChannel } from '../../cluster-api/tls-channel.js';
import { peerUrl, type EtcdMember } from '../../components/etcd-members.js';
import { HOST_PATHS } from '../../components/paths.js';
import type { HostSpec } from '../../config/cluster-spec.js';
import { clientIdentity } from '../../pki/client-identities.js';
import { shq } from '../../ssh/quote.js';
import { DEFAULT_PORTS } from '../../upstream/index.js';
import type { ClusterAction, ClusterContext, ClusterHost } from '../context.js';
import { etcdData } from '../etcd-data.js';
import { isMember, reportedMembers } from './members-fact.js';

/**
 * How each etcd member without data gets its ETCD_INITIAL_CLUSTER and _STATE (the file the unit
 * reads, HOST_PATHS.etcdInitialClusterEnv), as a cluster action on that host itself, before the etcd
 * phase starts it:
 *   - a new cluster (no etcd host has data, none answers): the inventory's members, state `new`;
 *     they all start together in the phase;
 *   - a cluster that answers: `member add` with the host's peer URL (unless the member is listed
 *     already, added by a run that stopped before its start), by the controller over etcd's gRPC
 *     API (no etcdctl on any host), then the file, with the member list as etcd reported it and
 *     this host in it, state `existing`. A host whose data folder holds a member the list does not
 *     have (a removed incarnation) has its etcd stopped and that data wiped before the file.
 * The existing members' units never change for it, so nothing of theirs restarts.
 */
export function etcdJoinActions(ctx: ClusterContext): ClusterAction[] {
  const members = ctx.hosts.filter((h) => h.host.roles.includes('etcd'));
  const reported = reportedMembers(ctx);
  if (!reported) {
    // Data somewhere and no answer: a cluster that is down, which a member cannot join (the preflight says so).
    if (members.some((h) => etcdData(h).hasMember)) return [];
    return members.map((h) => foundAction(ctx, h.host));
  }
  return members
    .filter((h) => needsJoin(h, reported.members))
    .flatMap((h) => {
      const file = joinFileAction(h, reported.members);
      return [memberAddAction(ctx, h.host), ...(file ? [file] : [])];
    });
}

/** An etcd host of the inventory that is not (or no longer) a member with data. */
export function needsJoin(h: ClusterHost, members: Parameters<typeof isMember>[0]): boolean {
  return !etcdData(h).hasMember || !isMember(members, h.host);
}

/** What the founding members' file says. */
export function foundingEnv(ctx: ClusterContext): string {
  return envFile(ctx.spec.values.ETCD_INITIAL_CLUSTER!, 'new');
}

function envFile(initialCluster: string, state: 'new' | 'existing'): string {
  return `ETCD_INITIAL_CLUSTER=${initialCluster}\nETCD_INITIAL_CLUSTER_STATE=${state}\n`;
}

const DATA = HOST_PATHS.etcdDataDir;
const ENV = HOST_PATHS.etcdInitialClusterEnv;

/** Writes the file atomically, in the data folder (made 0700 as the phase wants it, if missing). */
function writeEnv(content: string): string {
  return `install -d -m 0700 ${shq(DATA)} && printf %s ${content} > ${shq(`${ENV}.tmp`)} && mv -f ${shq(`${ENV}.tmp`)} ${shq(ENV)}`;
}

function foundAction(ctx: ClusterContext, host: HostSpec): ClusterAction {
  const content = foundingEnv(ctx);
  return {
    name: `etcd-initial-cluster:${host.name}`,
    description: `${host.name} founds the etcd cluster with ${ctx.spec.values.ETCD_INITIAL_CLUSTER} (state new)`,
    check: `test -d ${shq(`${DATA}/member`)} || [ "$(cat ${shq(ENV)} 2>/dev/null)" = ${shq(content.trimEnd())} ]`,
    run: writeEnv(shq(content)),
    candidates: [host.name],
    when: 'before',
  };
}

/** The other etcd hosts' client URLs: where the member list is asked and the member added. */
function otherClientUrls(ctx: ClusterContext, host: HostSpec): string[] {
  return ctx.spec.hosts.filter((h) => h.roles.includes('etcd') && h.name !== host.name).map((h) => `https://${h.nodeIp}:${DEFAULT_PORTS.etcdClient}`);
}

/**
 * The first other member that answers the member list, as etcd's root (MemberAdd needs root under
 * auth), reached through the joining host's own connection (its channels to the members' client
 * URLs): the action stays with the host that joins, whose file step comes next, and a member the
 * joining host cannot reach is what its etcd would fail on anyway, as etcdctl there did before.
 */
async function answeringMember(ctx: ClusterContext, host: HostSpec, channel: OpenChannel): Promise<{ api: EtcdApi; members: EtcdMember[] }> {
  const errors: unknown[] = [];
  for (const url of otherClientUrls(ctx, host)) {
    const api = etcdApiOn(host, channel, clientIdentity(ctx.spec, 'etcdAdmin'), url);
    try {
      return { api, members: await api.memberList() };
    } catch (err) {
      errors.push(err);
    }
  }
  throw errors[0] ?? new Error('the inventory has no other etcd member to join');
}

/** A member added but not started that is not `host`: it has no name yet, so no member can join beside it. */
function otherUnstarted(members: readonly EtcdMember[], host: HostSpec): EtcdMember | undefined {
  return members.find((m) => m.name === '' && !m.peerUrls.includes(peerUrl(host)));
}

function unstartedError(m: EtcdMember): Error {
  return new Error(`another etcd member was added and has not started (${m.peerUrls.join(',')}); start it (or remove it: etcdctl member remove ${m.id}) before this one joins`);
}

/**
 * `member add` by the controller: nothing to do once the host's peer URL is listed and no other
 * member waits unstarted; the apply lists again, refuses beside another unstarted member (before
 * adding anything), and adds unless listed (a run that stopped before the start added it already).
 */
function memberAddAction(ctx: ClusterContext, host: HostSpec): ClusterAction {
  const url = peerUrl(host);
  const listed = (members: readonly EtcdMember[]) => members.some((m) => m.peerUrls.includes(url));
  return {
    name: `etcd-member-add:${host.name}`,
    description: `etcd member add ${host.name} --peer-urls=${url}, asked of the other members through ${host.name}'s connection`,
    query: async (channel) => {
      const { members } = await answeringMember(ctx, host, channel);
      return listed(members) && !otherUnstarted(members, host);
    },
    apply: async (channel) => {
      const { api, members } = await answeringMember(ctx, host, channel);
      const waiting = otherUnstarted(members, host);
      if (waiting) throw unstartedError(waiting);
      if (!listed(members)) await api.memberAdd([url]);
    },
    candidates: [host.name],
    when: 'before',
    failureHint: `check that the other etcd members are healthy (bootstrap health) and that ${host.name} reaches them on ${DEFAULT_PORTS.etcdClient} and ${DEFAULT_PORTS.etcdPeer}`,
  };
}

/**
 * ETCD_INITIAL_CLUSTER of a joining member: every member of the list by name, this one (added,
 * not started yet, or about to be added) by its own; undefined when another member has no name yet.
 */
export function joiningCluster(members: readonly EtcdMember[], host: HostSpec): string | undefined {
  const url = peerUrl(host);
  const all = members.some((m) => m.peerUrls.includes(url)) ? members : [...members, { id: '', started: false, name: host.name, peerUrls: [url] }];
  const named = all.map((m) => ({ name: m.peerUrls.includes(url) ? host.name : m.name, peerUrls: m.peerUrls }));
  if (named.some((m) => m.name === '')) return undefined;
  return named.flatMap((m) => m.peerUrls.map((u) => `${m.name}=${u}`)).join(',');
}

/**
 * The joining host's file, from the member list the controller read with the facts (and this host
 * added to it): written after the member add, before the phase starts etcd. A host whose data
 * folder holds a member the list does not have (a removed incarnation) has its etcd stopped and that
 * data wiped first: it would never be let in again. Undefined beside another unstarted member,
 * which the member add refuses, saying so.
 */
function joinFileAction(h: ClusterHost, members: readonly EtcdMember[]): ClusterAction | undefined {
  const host = h.host;
  const initialCluster = joiningCluster(members, host);
  if (initialCluster === undefined) return undefined;
  const content = envFile(initialCluster, 'existing');
  const stale = etcdData(h).hasMember;
  const member = shq(`${DATA}/member`);
  return {
    name: `etcd-initial-cluster:${host.name}`,
    description: `${host.name} joins the etcd cluster with ${initialCluster} (state existing)${stale ? `; first its etcd stops and the data of a member the cluster no longer has is wiped` : ''}`,
    check: `${stale ? `! test -d ${member} && ` : ''}[ "$(cat ${shq(ENV)} 2>/dev/null)" = ${shq(content.trimEnd())} ]`,
    run: ['set -e', ...(stale ? [`systemctl stop etcd.service 2>/dev/null || :`, `rm -rf ${member}`] : []), writeEnv(shq(content))].join('\n'),
    candidates: [host.name],
    when: 'before',
  };
}
