import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { ClusterSession, OpenHost } from '../engine/session.js';
import { runPodCheck } from './pod-check/run.js';
import { apiLbOn } from '../components/catalog.js';
import { apiLbCheck } from './api-lb.js';
import { skewRows, versionsCheck } from './versions.js';
import {
  apiserverReadyCheck,
  etcdAuthCheck,
  etcdHealthCheck,
  etcdMembersCheck,
  hostChecks,
  leasesCheck,
  nodesCheck,
  type ApiCheck,
  type HealthCheck,
  type HealthIdentities,
  type HealthRow,
} from './checks.js';
import type { OpenChannel } from '../cluster-api/tls-channel.js';
import type { HostStats } from '../ssh/remote-host.js';

export interface HealthReport {
  ok: boolean;
  rows: HealthRow[];
  durationMs: number;
  /** Each reached host's SSH round trips for the checks: its one command (and the pod check's on a master with --deep), its channels. */
  roundTrips: Array<{ host: string } & HostStats>;
}

/** A check of either kind: a snippet in the host's command, or the controller's own request through its connection. */
type AnyCheck = HealthCheck | ApiCheck;

/**
 * `bootstrap health`, a procedure on the cluster session: every host reached (so a jump host works
 * as for apply), then one command per host with all of its checks, hosts in parallel. etcd's and the
 * cluster's checks are the controller's own requests (`identities`: its client certificates) to
 * each member's etcd and to the API server of the first master that answered, through forwarded
 * channels of their connections, alongside that command: no process on the host for them.
 * `deep`: the pod check too (pod-check/), on that master.
 */
export async function runHealth(spec: ClusterSpec, session: ClusterSession<HostSpec>, opts: { deep?: boolean; identities: HealthIdentities }): Promise<HealthReport> {
  const started = Date.now();
  const { open, lost } = await session.connect();
  const clusterChecks = assignClusterChecks(spec, session, open, opts.identities);
  // The pod check runs alongside, as a command of its own on the first master that answered.
  const masters = spec.hosts.filter((h) => h.roles.includes('master')).map((h) => h.name);
  const deep = opts.deep ? runPodCheck(spec, session.first(open, masters)) : Promise.resolve([]);
  const checksOf = (host: HostSpec): AnyCheck[] => [
    ...hostChecks(spec, host),
    versionsCheck(host),
    ...(host.roles.includes('etcd') ? [etcdHealthCheck(host, opts.identities)] : []),
    ...(host.roles.includes('master') ? [apiserverReadyCheck(spec, host, opts.identities)] : []),
    ...(apiLbOn(host) ? [apiLbCheck(spec, host)] : []),
    ...(clusterChecks.get(host.name) ?? []),
  ];
  const rows = [...(await session.each(open, (h) => runChecks(session, h, checksOf(h.host)))).flat(), ...(await deep)];
  const unreachable = lost.map((l) => ({ check: 'reachable over SSH', host: l.host.name, ok: false, detail: l.error.message }));
  const found = [...unreachable, ...rows, ...missingClusterChecks(spec, clusterChecks)];
  const all = [...found, ...skewRows(found, { containerdUnsupported: spec.values.CONTAINERD_ALLOW_UNSUPPORTED === 'true' })];
  const roundTrips = open.map((h) => ({ host: h.host.name, ...h.remote.stats }));
  return { ok: all.every((r) => r.ok), rows: order(spec, merged(all)), durationMs: Date.now() - started, roundTrips };
}

function assignClusterChecks(spec: ClusterSpec, session: ClusterSession<HostSpec>, open: ReadonlyArray<OpenHost<HostSpec>>, ids: HealthIdentities): Map<string, AnyCheck[]> {
  const out = new Map<string, AnyCheck[]>();
  const add = (h: OpenHost<HostSpec> | undefined, check: (s: ClusterSpec, on: HostSpec, ids: HealthIdentities) => AnyCheck) => {
    if (h) out.set(h.host.name, [...(out.get(h.host.name) ?? []), check(spec, h.host, ids)]);
  };
  const withRole = (role: HostSpec['roles'][number]) => spec.hosts.filter((h) => h.roles.includes(role)).map((h) => h.name);
  const member = session.first(open, withRole('etcd'));
  const master = session.first(open, withRole('master'));
  add(member, etcdMembersCheck);
  add(member, etcdAuthCheck);
  add(master, nodesCheck);
  // In kube mode the nodes check reads the podCIDRs from the same list.
  if (spec.values.FLANNEL_MODE !== 'kube') add(member, leasesCheck);
  return out;
}

/** A cluster check no host could run (no etcd member or master answered) fails, saying why. */
function missingClusterChecks(spec: ClusterSpec, assigned: Map<string, AnyCheck[]>): HealthRow[] {
  const keys = new Set([...assigned.values()].flat().map((c) => c.key));
  const rows: HealthRow[] = [];
  if (!keys.has('etcd-members')) rows.push({ check: 'etcd member list', host: '-', ok: false, detail: 'no etcd member answered' });
  if (!keys.has('nodes')) rows.push({ check: 'node Ready', host: '-', ok: false, detail: 'no master answered' });
  return spec.hosts.length ? rows : [];
}

/** The host's one command with its snippets, and the controller's requests through its channels at the same time. */
async function runChecks(session: ClusterSession<HostSpec>, h: OpenHost<HostSpec>, checks: readonly AnyCheck[]): Promise<HealthRow[]> {
  const scripted = checks.filter((c): c is HealthCheck => 'script' in c);
  const queried = checks.filter((c): c is ApiCheck => 'query' in c);
  const [commandRows, ...apiRows] = await Promise.all([runCommand(session, h, scripted), ...queried.map((c) => c.query(channelOf(h)))]);
  return [...commandRows!, ...apiRows.flat()];
}

async function runCommand(session: ClusterSession<HostSpec>, h: OpenHost<HostSpec>, checks: readonly HealthCheck[]): Promise<HealthRow[]> {
  try {
    const out = await session.sections(
      h,
      checks.map((c) => [c.key, c.script] as const),
    );
    return checks.flatMap((c) => c.read(out.get(c.key) ?? ''));
  } catch (err) {
    return [{ check: 'health command', host: h.host.name, ok: false, detail: err instanceof Error ? err.message : String(err) }];
  }
}

function channelOf(h: OpenHost<HostSpec>): OpenChannel {
  const forward = h.remote.forwardOut?.bind(h.remote);
  return (address, port) => (forward ? forward(address, port) : Promise.reject(new Error(`${h.host.name} is not reached over SSH: no channel to ${address}:${port}`)));
}

/**
 * One row per check and host: what several hosts say about one (each node's load balancer about a
 * master) becomes one row, failed if any says so, with every detail.
 */
export function merged(rows: readonly HealthRow[]): HealthRow[] {
  const byKey = new Map<string, HealthRow>();
  for (const r of rows) {
    const key = `${r.check}\u0000${r.host}`;
    const seen = byKey.get(key);
    byKey.set(key, seen ? { ...seen, ok: seen.ok && r.ok, detail: `${seen.detail}; ${r.detail}` } : r);
  }
  return [...byKey.values()];
}

/** Rows by check, then in inventory order. */
function order(spec: ClusterSpec, rows: HealthRow[]): HealthRow[] {
  const hostIndex = (h: string) => {
    const i = spec.hosts.findIndex((x) => x.name === h);
    return i < 0 ? spec.hosts.length : i;
  };
  const checkOrder = [...new Set(rows.map((r) => r.check))];
  return [...rows].sort((a, b) => checkOrder.indexOf(a.check) - checkOrder.indexOf(b.check) || hostIndex(a.host) - hostIndex(b.host));
}
