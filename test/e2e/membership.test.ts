import { describe, expect, it } from 'vitest';
import { stopHost } from '../lab/index.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { startsOf, whileTracing, type StartedProgram } from './support/exec-trace.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * Membership as desired state on real hosts with the lab bundle's etcd 3.5: a cluster grows from 3
 * hosts to 5 (a new etcd member, a new worker), loses a worker and a master that is an etcd member,
 * refuses a removal that would break etcd's quorum, and forgets a host that is powered off. Each
 * `it` checks the hosts themselves (member list, units, PIDs), not only kubestrap's report.
 */
interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

/** Roles: two masters (one of them leaves later), three etcd members, then a fourth. */
const ROLES = [['etcd', 'master', 'worker'], ['etcd', 'master', 'worker'], ['etcd', 'worker'], ['etcd'], ['worker']];

/** The units kubestrap runs; a removed host must run none of them. */
const OUR_UNITS = 'etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy flanneld containerd haproxy';

/** `systemctl show` of the units that matter for restarts: what a no-restart claim is checked against. */
async function mainPids(hosts: LabHosts, i: number): Promise<string> {
  return hosts.run(i, 'systemctl show -p MainPID --value etcd kubelet kube-proxy containerd kube-controller-manager kube-scheduler 2>/dev/null');
}

async function monotonic(hosts: LabHosts, i: number, unit: string, property: 'ExecMainStartTimestampMonotonic' | 'ActiveEnterTimestampMonotonic'): Promise<number> {
  return Number((await hosts.run(i, `systemctl show -p ${property} --value ${unit}`)).trim());
}

/** The member list as etcd reports it on host i: names of started members, sorted. */
async function memberNames(hosts: LabHosts, i: number): Promise<string[]> {
  const out = await hosts.run(
    i,
    '/opt/kube/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list',
  );
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(', ')[2]!)
    .sort();
}

function changed(report: JsonReport): Array<[string, string, string]> {
  return report.results.flatMap((r) => r.changes.map((c) => [r.phase, r.host, c.summary] as [string, string, string]));
}

function restarted(report: JsonReport): Array<[string, string, string]> {
  return report.results.flatMap((r) => r.restarts.map((x) => [r.phase, r.host, x.service] as [string, string, string]));
}

/**
 * etcdctl as kubestrap started it on the traced hosts, but for the readiness wait after an etcd
 * start (`endpoint health`): the member list, add and remove are the controller's requests. The
 * trace must have seen kubestrap's commands at all, or an empty answer would prove nothing.
 */
function etcdctlSteps(started: StartedProgram[][]): string[] {
  expect(started.flat().length).toBeGreaterThan(0);
  return started.flatMap((programs) => startsOf(programs, 'etcdctl')).filter((argv) => !argv.endsWith('"endpoint", "health"'));
}

/** A whole cluster's init or a membership change on a loaded 2-core machine takes minutes. */
const SLOW = 600_000;

describe.skipIf(!labAvailable())('membership: hosts join and leave the cluster as the inventory says', () => {
  const hosts = useLabHosts(5, { firewalld: true, prefix: 'mb' });
  const cluster = useLabCluster(hosts, { layout: (i) => ROLES[i]! });
  const name = (i: number) => hosts.host(i).name;
  const names = (...is: number[]) => is.map(name);
  // Roles by host name: a host keeps its roles whichever hosts the inventory lists.
  const inventory = (only: number[], remove: number[] = []) =>
    cluster.rewriteInventory({ roles: Object.fromEntries(ROLES.map((r, i) => [name(i), r])), hosts: names(...only), remove: names(...remove) });

  async function health(): Promise<{ code: number; failures: string[] }> {
    const run = await cluster.cli(['health', '--output', 'json']);
    const rows = (JSON.parse(run.stdout) as { checks: HealthRow[] }).checks;
    return { code: run.code, failures: rows.filter((r) => !r.ok).map((r) => `${r.check} ${r.host}: ${r.detail}`) };
  }

  async function expectHealthy(): Promise<void> {
    const { code, failures } = await health();
    expect(failures).toEqual([]);
    expect(code).toBe(0);
  }

  async function apply(extra: string[] = []): Promise<JsonReport> {
    const { run, report } = await cluster.json('apply', extra);
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    return report;
  }

  it(
    'starts with three hosts',
    async () => {
      // The API server address stays the first master's (no node-local load balancers): this file is about membership.
      cluster.setProperty('MASTER_IP', hosts.host(0).address);
      await inventory([0, 1, 2]);
      const { run, report } = await cluster.json('init', ['--yes']);
      expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
      expect(await memberNames(hosts, 0)).toEqual(names(0, 1, 2).sort());
      // The founding members' settings are not in the unit: a later change of membership rewrites no unit.
      expect(await hosts.run(0, 'systemctl show -p ExecStart --value etcd')).not.toContain('initial-cluster=');
      expect(await hosts.run(0, 'cat /var/lib/etcd/kubestrap-initial-cluster.env')).toContain('ETCD_INITIAL_CLUSTER_STATE=new');
    },
    SLOW,
  );

  it(
    'grows to five: plan shows the member add; apply restarts only the API servers, one at a time',
    async () => {
      await inventory([0, 1, 2, 3, 4]);
      const { report: plan } = await cluster.json('plan');
      expect(changed(plan)).toContainEqual(['etcd', name(3), expect.stringContaining(`etcd member add ${name(3)} --peer-urls=https://${hosts.host(3).address}:2380`) as unknown as string]);
      expect(await memberNames(hosts, 0)).toEqual(names(0, 1, 2).sort());
      const before = await Promise.all([0, 1, 2].map((i) => mainPids(hosts, i)));

      const { result: report, started } = await whileTracing(hosts, [0, 1, 2, 3], () => apply());
      expect(etcdctlSteps(started)).toEqual([]);
      // The trace does see etcdctl when kubestrap starts it: the readiness wait after the new member's first start.
      expect(startsOf(started[3]!, 'etcdctl')).toContainEqual(expect.stringMatching(/"endpoint", "health"$/));
      expect(await memberNames(hosts, 0)).toEqual(names(0, 1, 2, 3).sort());
      // No etcd member, kubelet or runtime of the existing hosts restarted: the member list is not in their units.
      expect(await Promise.all([0, 1, 2].map((i) => mainPids(hosts, i)))).toEqual(before);
      const existingRestarts = restarted(report)
        .filter(([, host]) => names(0, 1, 2).includes(host))
        .map(([, , service]) => service);
      expect(existingRestarts).toContain('kube-apiserver');
      expect(existingRestarts.filter((s) => s !== 'kube-apiserver' && s !== 'flanneld')).toEqual([]);
      // The API servers follow the member list one master at a time, each ready before the next.
      expect(await monotonic(hosts, 1, 'kube-apiserver', 'ExecMainStartTimestampMonotonic')).toBeGreaterThan(await monotonic(hosts, 0, 'kube-apiserver', 'ActiveEnterTimestampMonotonic'));
      expect(await hosts.run(1, 'systemctl show -p ExecStart --value kube-apiserver')).toContain(`https://${hosts.host(3).address}:2379`);
      await expectHealthy();

      const again = await apply();
      expect(changed(again)).toEqual([]);
      expect(restarted(again)).toEqual([]);
    },
    SLOW,
  );

  it(
    'removes a worker and a master that is an etcd member: health all ok, nothing of ours runs on them',
    async () => {
      await inventory([0, 1, 2, 3, 4], [1, 4]);
      const { report: plan } = await cluster.json('plan');
      const steps = changed(plan).map(([, , summary]) => summary);
      expect(steps).toContainEqual(expect.stringContaining(`drain Node ${name(4)}`));
      expect(steps).toContainEqual(expect.stringContaining(`drain Node ${name(1)}`));
      expect(steps).toContainEqual(expect.stringContaining(`etcd member remove ${name(1)}`));
      expect(await memberNames(hosts, 0)).toEqual(names(0, 1, 2, 3).sort());

      const { started } = await whileTracing(hosts, [0, 2, 3], () => apply());
      expect(etcdctlSteps(started)).toEqual([]);
      expect(await memberNames(hosts, 0)).toEqual(names(0, 2, 3).sort());
      for (const i of [1, 4]) {
        const running = await hosts.exec(i, `systemctl is-active ${OUR_UNITS}`);
        expect(running.stdout.split('\n').filter((s) => s === 'active')).toEqual([]);
        expect((await hosts.exec(i, 'test -e /var/lib/etcd || test -e /var/lib/kubestrap')).code).not.toBe(0);
      }
      await inventory([0, 2, 3]);
      await expectHealthy();
      const again = await apply();
      expect(changed(again)).toEqual([]);
    },
    SLOW,
  );

  it(
    'a removal that would break quorum, or two etcd changes at once, is refused before any change',
    async () => {
      // Members 0, 2 and 3 with 3 stopped: 2 of 3 answer; without 2, one of two would answer, under the quorum of 2.
      await hosts.run(3, 'systemctl stop etcd');
      try {
        await inventory([0, 2, 3], [2]);
        const { run, report } = await cluster.json('apply');
        expect(run.code).toBe(2);
        expect(errorsOf(report)).toContain(`removing etcd member ${name(2)} is refused: the cluster would lose its quorum`);
        expect(errorsOf(report)).toContain('After: 2 members, 1 answering, quorum floor(2/2)+1 = 2');
        expect(report.results).toEqual([]);
        expect((await hosts.run(2, 'systemctl is-active etcd')).trim()).toBe('active');

        await inventory([0, 2, 3], [2, 3]);
        const two = await cluster.json('apply');
        expect(two.run.code).toBe(2);
        expect(errorsOf(two.report)).toContain('2 etcd membership changes in one run');
      } finally {
        await hosts.run(3, 'systemctl start etcd');
      }
      expect(await memberNames(hosts, 0)).toEqual(names(0, 2, 3).sort());
    },
    SLOW,
  );

  it(
    'forgets a host that is powered off: refused without --forget, then Node, member and endpoints gone',
    async () => {
      await stopHost(hosts.lab.name, name(3));
      await inventory([0, 2, 3], [3]);
      const refused = await cluster.json('apply', ['--connect-timeout', '2']);
      expect(refused.run.code).toBe(2);
      expect(errorsOf(refused.report)).toContain(`${name(3)}: is marked remove: true but did not answer`);

      const { result, started } = await whileTracing(hosts, [0, 2], () => cluster.json('apply', ['--forget', name(3)]));
      const { run, report } = result;
      expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
      expect(etcdctlSteps(started)).toEqual([]);
      expect(run.stderr).toContain(`${name(3)}: is not contacted (--forget)`);
      expect(await memberNames(hosts, 0)).toEqual(names(0, 2).sort());
      expect(await hosts.run(0, 'systemctl show -p ExecStart --value kube-apiserver')).not.toContain(`https://${hosts.host(3).address}:2379`);
      await inventory([0, 2]);
      await expectHealthy();
      const again = await apply();
      expect(changed(again)).toEqual([]);
    },
    SLOW,
  );
});
