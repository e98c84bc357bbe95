import { etcdctl } from '../../components/clients.js';
import { peerUrl } from '../../components/etcd-members.js';
import { HOST_PATHS } from '../../components/paths.js';
import type { HostSpec } from '../../config/cluster-spec.js';
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
 *   - a cluster that answers: `etcdctl member add` with the host's peer URL (unless the member is
 *     listed already, added by a run that stopped before its start), then the member list as etcd
 *     reports it, state `existing`. A host whose data folder holds a member the list does not have
 *     (a removed incarnation) has its etcd stopped and that data wiped first.
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
  return members.filter((h) => needsJoin(h, reported.members)).map((h) => joinAction(ctx, h.host));
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

/** The other etcd hosts' client URLs: where a joining member asks for the member list. */
function otherEndpoints(ctx: ClusterContext, host: HostSpec): string {
  return ctx.spec.hosts
    .filter((h) => h.roles.includes('etcd') && h.name !== host.name)
    .map((h) => `https://${h.nodeIp}:${DEFAULT_PORTS.etcdClient}`)
    .join(',');
}

function joinAction(ctx: ClusterContext, host: HostSpec): ClusterAction {
  const url = peerUrl(host);
  const e = etcdctl(host, otherEndpoints(ctx, host), 'admin');
  // A line of `member list` is `id, status, name, peer URLs, client URLs, is learner`.
  const listed = `printf '%s\\n' "$ks_list" | grep -qF -- ${shq(`, ${url}, `)}`;
  return {
    name: `etcd-member-add:${host.name}`,
    description: `etcdctl member add ${host.name} --peer-urls=${url}, then ${host.name} joins with the member list as etcd reports it (state existing)`,
    check: `test -d ${shq(`${DATA}/member`)} && ks_list=$(${e} member list) && ${listed}`,
    run: [
      'set -e',
      `ks_list=$(${e} member list)`,
      // Data of a member the cluster no longer has: it would never be let in again.
      `if [ -d ${shq(`${DATA}/member`)} ] && ! ${listed}; then systemctl stop etcd.service 2>/dev/null || :; rm -rf ${shq(`${DATA}/member`)}; fi`,
      `if ! ${listed}; then ${e} member add ${shq(host.name)} --peer-urls=${shq(url)} >/dev/null; ks_list=$(${e} member list); fi`,
      // Every member by name; this one (not started yet) by its own. Another unstarted member cannot be named.
      `ks_initial=$(printf '%s\\n' "$ks_list" | awk -F', ' -v me=${shq(host.name)} -v url=${shq(url)} 'NF >= 5 { n = $3; if ($4 == url) n = me; if (n == "") { bad = 1; exit } printf "%s%s=%s", sep, n, $4; sep = "," } END { exit bad }') || { echo "another etcd member was added and has not started; start it (or remove it: etcdctl member remove) before this one joins" >&2; exit 1; }`,
      writeEnv(`"$(printf 'ETCD_INITIAL_CLUSTER=%s\\nETCD_INITIAL_CLUSTER_STATE=existing\\n' "$ks_initial")"`),
    ].join('\n'),
    candidates: [host.name],
    when: 'before',
    failureHint: `check that the other etcd members are healthy (bootstrap health) and that ${host.name} reaches them on ${DEFAULT_PORTS.etcdClient} and ${DEFAULT_PORTS.etcdPeer}`,
  };
}
