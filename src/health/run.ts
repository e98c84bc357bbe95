import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { KubestrapError } from '../errors.js';
import { mapLimit } from '../engine/limit.js';
import { parseSections, sectionedScript } from '../engine/sections.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import type { SshTarget } from '../ssh/target.js';
import { etcdAuthCheck, etcdMembersCheck, hostChecks, leasesCheck, nodesCheck, type HealthCheck, type HealthRow } from './checks.js';

export interface HealthReport {
  ok: boolean;
  rows: HealthRow[];
  durationMs: number;
}

/**
 * `bootstrap health`: connect to every host over SSH (so a jump host works as for apply), then one
 * command per host with all of its checks, hosts in parallel. The cluster-wide checks ride in the
 * command of the first etcd member and the first master that answered.
 */
export async function runHealth(spec: ClusterSpec, connect: (t: SshTarget) => Promise<RemoteHost>, concurrency: number): Promise<HealthReport> {
  const started = Date.now();
  const connected = await mapLimit(spec.hosts, concurrency, async (host) => {
    try {
      return { host, remote: await connect(host.ssh) };
    } catch (err) {
      return { host, error: err instanceof KubestrapError ? err.message : String(err) };
    }
  });
  const up = connected.flatMap((c) => (c.remote ? [{ host: c.host, remote: c.remote }] : []));
  const clusterChecks = assignClusterChecks(spec, up.map((u) => u.host));
  const rows = (
    await mapLimit(up, concurrency, async ({ host, remote }) => {
      const checks = [...hostChecks(spec, host), ...(clusterChecks.get(host.name) ?? [])];
      return runChecks(host, remote, checks);
    })
  ).flat();
  const unreachable = connected.flatMap((c) => (c.error ? [{ check: 'reachable over SSH', host: c.host.name, ok: false, detail: c.error }] : []));
  const all = [...unreachable, ...rows, ...missingClusterChecks(spec, clusterChecks)];
  return { ok: all.every((r) => r.ok), rows: order(spec, all), durationMs: Date.now() - started };
}

function assignClusterChecks(spec: ClusterSpec, up: readonly HostSpec[]): Map<string, HealthCheck[]> {
  const out = new Map<string, HealthCheck[]>();
  const add = (host: HostSpec | undefined, check: (s: ClusterSpec, on: HostSpec) => HealthCheck) => {
    if (host) out.set(host.name, [...(out.get(host.name) ?? []), check(spec, host)]);
  };
  const member = up.find((h) => h.roles.includes('etcd'));
  const master = up.find((h) => h.roles.includes('master'));
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

async function runChecks(host: HostSpec, remote: RemoteHost, checks: readonly HealthCheck[]): Promise<HealthRow[]> {
  try {
    const out = parseSections((await remote.run(sectionedScript(checks.map((c) => [c.key, c.script] as const)))).stdout);
    return checks.flatMap((c) => c.read(out.get(c.key) ?? ''));
  } catch (err) {
    return [{ check: 'health command', host: host.name, ok: false, detail: err instanceof Error ? err.message : String(err) }];
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
