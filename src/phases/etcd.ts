import { scheduledBackupResources } from '../backup/scheduled.js';
import { componentPhase } from './component-phase.js';
import { HOST_PATHS } from '../components/paths.js';
import { HostError } from '../errors.js';
import type { ClusterContext } from './context.js';
import { DATA_FACT, etcdData } from './etcd-data.js';
import { DISK_FACT, diskProblems } from '../preflight/disk.js';
import { LISTENERS_FACT } from '../preflight/ports.js';
import { etcdAccessAction } from './etcd-access.js';
import { readsRoles, withRole, type Phase } from './phase.js';
import { etcdJoinActions } from './membership/etcd-join.js';
import { MEMBERS_FACT } from './membership/members-fact.js';

/** Room etcd needs to start and grow for a while; its quota (8 GiB) is a ceiling, not a start. */
const ETCD_DISK_BYTES = 2 * 1024 ** 3;

/**
 * etcd on the hosts with the etcd role, with TLS between members and to clients. Members of a new
 * cluster start together (their units are `Type=notify`: each waits for the quorum), so the first
 * start happens on every member at once; later restarts go one member at a time, each healthy
 * before the next. How a member without data founds or joins the cluster is not in its unit but in
 * a file the join step writes (membership/etcd-join.ts: `member add` first when the cluster
 * exists), so a change of membership restarts no member. A member that already has data keeps it:
 * etcd ignores the initial-cluster settings then, so it is never bootstrapped again.
 */
const etcdMembers: Phase = componentPhase(
  {
    name: 'etcd',
    title: 'etcd cluster',
    role: 'etcd',
    directories: [{ path: HOST_PATHS.etcdDataDir, mode: 0o700 }],
    services: ['etcd'],
    record: ({ spec }) => ({ etcd: spec.values.ETCD_VERSION!, dataDir: HOST_PATHS.etcdDataDir }),
  },
  {
    facts: [LISTENERS_FACT, DISK_FACT, DATA_FACT, MEMBERS_FACT],
    preflight: (ctx) => {
      const members = withRole(ctx, 'etcd');
      return [...foreignData(members), ...diskProblems(members, () => [{ path: HOST_PATHS.etcdDataDir, bytes: ETCD_DISK_BYTES, what: 'etcd data' }])];
    },
    clusterActions: (ctx) => [...etcdJoinActions(ctx), etcdAccessAction(ctx)],
    // Every member: a member joins with the member list as the others report it, and the access action runs on one.
    limitReads: readsRoles('etcd'),
  },
);

/**
 * The members, and on the first one the scheduled backup when ETCD_BACKUP_SCHEDULE is set
 * (backup/scheduled.ts): what the phase no longer wants there, its record removes.
 */
export const etcdPhase: Phase = {
  ...etcdMembers,
  resources: (ctx) => [...etcdMembers.resources(ctx), ...scheduledBackupResources(ctx.spec, ctx.host)],
};

/** An existing data folder that kubestrap did not make for this cluster: starting on it would join (or corrupt) another cluster. */
function foreignData(ctx: ClusterContext): HostError[] {
  return ctx.hosts.flatMap((h) => {
    const { hasMember, recordedCluster } = etcdData(h);
    if (!hasMember || recordedCluster === ctx.spec.name) return [];
    const whose = recordedCluster ? `of kubestrap cluster "${recordedCluster}"` : 'that kubestrap did not create';
    return [
      new HostError(
        h.host.name,
        `${HOST_PATHS.etcdDataDir} holds etcd data ${whose}; this cluster is "${ctx.spec.name}"`,
        { resource: `directory:${HOST_PATHS.etcdDataDir}` },
        `if that data is not needed, stop its etcd and move the folder away (mv ${HOST_PATHS.etcdDataDir} ${HOST_PATHS.etcdDataDir}.old) on ${h.host.name}; if it is, check the inventory's cluster name`,
      ),
    ];
  });
}

/** Hosts whose etcd member already has data: `init` refuses them and points to `apply`. */
export function hostsWithEtcdData(ctx: ClusterContext): string[] {
  return withRole(ctx, 'etcd')
    .hosts.filter((h) => etcdData(h).hasMember)
    .map((h) => h.host.name);
}
