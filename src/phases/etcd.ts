import { scheduledBackupResources } from '../backup/scheduled.js';
import { componentPhase } from './component-phase.js';
import { HOST_PATHS } from '../components/paths.js';
import { HostError } from '../errors.js';
import type { ClusterContext, ClusterHost } from './context.js';
import { defineFact, readFact } from '../engine/facts.js';
import { DISK_FACT, diskProblems } from '../preflight/disk.js';
import { LISTENERS_FACT } from '../preflight/ports.js';
import { shq } from '../ssh/quote.js';
import { etcdAccessAction } from './etcd-access.js';
import { withRole, type Phase } from './phase.js';
import { legacyRecordPath } from './record.js';

/** Whether the data folder holds a member, and which cluster kubestrap recorded it for. */
const DATA_FACT = defineFact('etcd-data', `test -d ${shq(`${HOST_PATHS.etcdDataDir}/member`)} && echo member; cat ${shq(legacyRecordPath('etcd'))}`, parseEtcdData);
/** Room etcd needs to start and grow for a while; its quota (8 GiB) is a ceiling, not a start. */
const ETCD_DISK_BYTES = 2 * 1024 ** 3;

/**
 * etcd on the hosts with the etcd role, with TLS between members and to clients. Members of a new
 * cluster start together (their units are `Type=notify`: each waits for the quorum), so the first
 * start happens on every member at once; later restarts go one member at a time, each healthy
 * before the next. A member that already has data keeps it: etcd ignores the initial-cluster flags
 * then, so it is never bootstrapped again.
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
    facts: [LISTENERS_FACT, DISK_FACT, DATA_FACT],
    preflight: (ctx) => {
      const members = withRole(ctx, 'etcd');
      return [...foreignData(members), ...diskProblems(members, () => [{ path: HOST_PATHS.etcdDataDir, bytes: ETCD_DISK_BYTES, what: 'etcd data' }])];
    },
    clusterActions: (ctx) => [etcdAccessAction(ctx)],
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

/** What the etcd fact says about a member's data folder. */
export function etcdData(h: ClusterHost): EtcdData {
  const data = readFact(h.facts, DATA_FACT);
  const recorded = h.facts.record.get('etcd')?.fields.cluster;
  return typeof recorded === 'string' ? { ...data, recordedCluster: recorded } : data;
}

interface EtcdData {
  hasMember: boolean;
  recordedCluster: string | undefined;
}

function parseEtcdData(output: string | undefined): EtcdData {
  const text = output ?? '';
  const hasMember = text.split('\n')[0]?.trim() === 'member';
  const json = hasMember ? text.slice(text.indexOf('\n') + 1) : text;
  let recordedCluster: string | undefined;
  try {
    const parsed = JSON.parse(json) as { cluster?: unknown };
    if (typeof parsed.cluster === 'string') recordedCluster = parsed.cluster;
  } catch {
    recordedCluster = undefined;
  }
  return { hasMember, recordedCluster };
}

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
