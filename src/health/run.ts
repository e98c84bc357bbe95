import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { ClusterSession, OpenHost } from '../engine/session.js';
import { runPodCheck } from './pod-check/run.js';
import { skewRows, versionsCheck } from './versions.js';
import { etcdAuthCheck, etcdMembersCheck, hostChecks, leasesCheck, nodesCheck, type HealthCheck, type HealthRow } from './checks.js';

export interface HealthReport {
  ok: boolean;
  rows: HealthRow[];
  durationMs: number;
}

/**
 * `bootstrap health`, a procedure on the cluster session: every host reached (so a jump host works
 * as for apply), then one command per host with all of its checks, hosts in parallel. The
 * cluster-wide checks ride in the command of the first etcd member and the first master that answered.
 * `deep`: the pod check too (pod-check/), on that master.
 */
export async function runHealth(spec: ClusterSpec, session: ClusterSession<HostSpec>, opts: { deep?: boolean } = {}): Promise<HealthReport> {
  const started = Date.now();
  const { open, lost } = await session.connect();
  const clusterChecks = assignClusterChecks(spec, session, open);
  // The pod check runs alongside, as a command of its own on the first master that answered.
  const masters = spec.hosts.filter((h) => h.roles.includes('master')).map((h) => h.name);
  const deep = opts.deep ? runPodCheck(spec, session.first(open, masters)) : Promise.resolve([]);
  const rows = [...(await session.each(open, (h) => runChecks(session, h, [...hostChecks(spec, h.host), versionsCheck(h.host), ...(clusterChecks.get(h.host.name) ?? [])]))).flat(), ...(await deep)];
  const unreachable = lost.map((l) => ({ check: 'reachable over SSH', host: l.host.name, ok: false, detail: l.error.message }));
  const found = [...unreachable, ...rows, ...missingClusterChecks(spec, clusterChecks)];
  const all = [...found, ...skewRows(found)];
  return { ok: all.every((r) => r.ok), rows: order(spec, all), durationMs: Date.now() - started };
}

function assignClusterChecks(spec: ClusterSpec, session: ClusterSession<HostSpec>, open: ReadonlyArray<OpenHost<HostSpec>>): Map<string, HealthCheck[]> {
  const out = new Map<string, HealthCheck[]>();
  const add = (h: OpenHost<HostSpec> | undefined, check: (s: ClusterSpec, on: HostSpec) => HealthCheck) => {
    if (h) out.set(h.host.name, [...(out.get(h.host.name) ?? []), check(spec, h.host)]);
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
function missingClusterChecks(spec: ClusterSpec, assigned: Map<string, HealthCheck[]>): HealthRow[] {
  const keys = new Set([...assigned.values()].flat().map((c) => c.key));
  const rows: HealthRow[] = [];
  if (!keys.has('etcd-members')) rows.push({ check: 'etcd member list', host: '-', ok: false, detail: 'no etcd member answered' });
  if (!keys.has('nodes')) rows.push({ check: 'node Ready', host: '-', ok: false, detail: 'no master answered' });
  return spec.hosts.length ? rows : [];
}

async function runChecks(session: ClusterSession<HostSpec>, h: OpenHost<HostSpec>, checks: readonly HealthCheck[]): Promise<HealthRow[]> {
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

/** Rows by check, then in inventory order. */
function order(spec: ClusterSpec, rows: HealthRow[]): HealthRow[] {
  const hostIndex = (h: string) => {
    const i = spec.hosts.findIndex((x) => x.name === h);
    return i < 0 ? spec.hosts.length : i;
  };
  const checkOrder = [...new Set(rows.map((r) => r.check))];
  return [...rows].sort((a, b) => checkOrder.indexOf(a.check) - checkOrder.indexOf(b.check) || hostIndex(a.host) - hostIndex(b.host));
}
