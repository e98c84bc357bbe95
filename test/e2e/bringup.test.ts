import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { runCli } from '../support/cli.js';
import { useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * The bring-up on real hosts from the lab's offline bundle: real etcd, containerd and Docker, the
 * Kubernetes stand-ins (they refuse what the real binaries refuse). `init` makes the cluster,
 * `health` says it works, `apply` keeps it so and changes only what differs.
 */
interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

async function health(cluster: ReturnType<typeof useLabCluster>): Promise<{ code: number; rows: HealthRow[]; text: string }> {
  const run = await cluster.cli(['health', '--output', 'json']);
  try {
    return { code: run.code, rows: (JSON.parse(run.stdout) as { checks: HealthRow[] }).checks, text: run.stdout + run.stderr };
  } catch {
    throw new Error(`health printed no JSON (exit ${run.code}):\n${run.stdout}${run.stderr}`);
  }
}

function failures(rows: HealthRow[]): string[] {
  return rows.filter((r) => !r.ok).map((r) => `${r.check} ${r.host}: ${r.detail}`);
}

function changed(report: JsonReport): Array<[string, string, string]> {
  return report.results.flatMap((r) => r.changes.map((c) => [r.phase, r.host, c.summary] as [string, string, string]));
}

function restarted(report: JsonReport): Array<[string, string, string]> {
  return report.results.flatMap((r) => r.restarts.map((x) => [r.phase, r.host, x.service] as [string, string, string]));
}

async function expectInit(cluster: ReturnType<typeof useLabCluster>): Promise<JsonReport> {
  const { run, report } = await cluster.json('init', ['--yes']);
  const errors = report.results.filter((r) => r.error).map((r) => `${r.phase} ${r.host}: ${r.error!.message}\n${r.error!.details?.stderrTail ?? ''}`);
  expect(run.code, `${errors.join('\n')}\n${run.stderr}`).toBe(0);
  return report;
}

/** `systemctl show` timestamps in µs since boot of the machine's clock (one kernel for all lab hosts). */
async function monotonic(hosts: LabHosts, i: number, unit: string, property: 'ExecMainStartTimestampMonotonic' | 'ActiveEnterTimestampMonotonic'): Promise<number> {
  return Number((await hosts.run(i, `systemctl show -p ${property} --value ${unit}`)).trim());
}

describe.skipIf(!labAvailable())('bring-up: three hosts, each etcd, master and worker', () => {
  const hosts = useLabHosts(3, { firewalld: true, prefix: 'ha' });
  const cluster = useLabCluster(hosts, { layout: () => ['etcd', 'master', 'worker'] });

  it('init --yes makes a cluster that health finds all ok', async () => {
    await expectInit(cluster);
    const { code, rows } = await health(cluster);
    expect(failures(rows)).toEqual([]);
    expect(code).toBe(0);
    const names = hosts.all().map((h) => h.name);
    expect(
      rows
        .filter((r) => r.check === 'node Ready')
        .map((r) => r.host)
        .sort(),
    ).toEqual([...names].sort());
    expect(
      rows
        .filter((r) => r.check === 'flannel lease in etcd')
        .map((r) => r.host)
        .sort(),
    ).toEqual([...names].sort());
  });

  it('etcd serves only TLS clients with a certificate from its CA', async () => {
    const ip = hosts.host(0).address;
    const plain = await hosts.exec(1, `curl -s --max-time 3 http://${ip}:2379/health`);
    expect(plain.code).not.toBe(0);
    const noCert = await hosts.exec(1, `curl -s --max-time 3 --cacert /etc/kubernetes/pki/etcd/ca.crt https://${ip}:2379/health`);
    expect(noCert.code).not.toBe(0);
    const good = await hosts.run(
      1,
      `curl -s --max-time 3 --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key https://${ip}:2379/health`,
    );
    expect(good).toContain('"health":"true"');
  });

  it("keeps flannel's network in etcd under the prefix, one lease per node", async () => {
    const etcdctl =
      'ETCDCTL_API=3 /opt/kube/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key';
    const config = await hosts.run(0, `${etcdctl} get /coreos.com/network/config --print-value-only`);
    expect(JSON.parse(config)).toEqual({ Network: '172.20.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } });
    const leases = (await hosts.run(0, `${etcdctl} get --prefix /coreos.com/network/subnets/ --keys-only`)).split('\n').filter(Boolean);
    expect(leases).toHaveLength(3);
  });

  it('a second apply changes nothing and restarts nothing, in two commands per host', async () => {
    const { run, report } = await cluster.json('apply');
    expect(run.code, run.stderr).toBe(0);
    expect(changed(report)).toEqual([]);
    expect(restarted(report)).toEqual([]);
    expect(report.hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'ok']);
    // One fact command and one probe command per host, whatever the number of phases and cluster checks.
    expect(report.hosts.map((h) => h.roundTrips?.execs)).toEqual([2, 2, 2]);
  });

  it('a new NODE_PORT_RANGE restarts kube-apiserver alone, one master at a time, each ready before the next', async () => {
    cluster.setProperty('NODE_PORT_RANGE', '30000-32000');
    const { run, report } = await cluster.json('apply');
    expect(run.code, run.stderr).toBe(0);
    expect(restarted(report)).toEqual(hosts.all().map((h) => ['control-plane', h.name, 'kube-apiserver']));
    expect(changed(report).map(([phase, , summary]) => [phase, summary])).toEqual(hosts.all().map(() => ['control-plane', 'update /etc/systemd/system/kube-apiserver.service']));
    for (const i of [1, 2]) {
      const started = await monotonic(hosts, i, 'kube-apiserver', 'ExecMainStartTimestampMonotonic');
      const previousReady = await monotonic(hosts, i - 1, 'kube-apiserver', 'ActiveEnterTimestampMonotonic');
      expect(started).toBeGreaterThan(previousReady);
    }
    for (let i = 0; i < 3; i++) expect(await hosts.run(i, 'systemctl show -p ExecStart --value kube-apiserver')).toContain('--service-node-port-range=30000-32000');
  });

  it('health names a stopped etcd member, and apply brings it back', async () => {
    await hosts.run(2, 'systemctl stop etcd');
    const broken = await health(cluster);
    expect(broken.code).toBe(1);
    expect(failures(broken.rows).some((f) => f.startsWith(`etcd running ${hosts.host(2).name}`))).toBe(true);
    const { run, report } = await cluster.json('apply');
    expect(run.code, run.stderr).toBe(0);
    expect(changed(report)).toContainEqual(['etcd', hosts.host(2).name, 'start etcd']);
    const again = await health(cluster);
    expect(failures(again.rows)).toEqual([]);
  });

  it('a template removed from the tree is removed from every host: plan shows it, apply does it, the next apply is a no-op', async () => {
    const gone = '/etc/profile.d/kubestrap-path.sh';
    const tree = join(cluster.dir, 'units-without-path');
    cpSync(BUNDLED_UNITS, tree, { recursive: true });
    rmSync(join(tree, 'all', gone));
    const plan = await cluster.json('plan', ['--templates', tree]);
    expect(plan.run.code, plan.run.stderr).toBe(0);
    expect(changed(plan.report).filter(([, , summary]) => !summary.startsWith('record '))).toEqual(hosts.all().map((h) => ['os', h.name, `remove ${gone}`]));
    expect((await hosts.exec(0, `test -e ${gone}`)).code).toBe(0);

    const { run, report } = await cluster.json('apply', ['--templates', tree]);
    expect(run.code, run.stderr).toBe(0);
    expect(changed(report)).toEqual(changed(plan.report));
    expect(restarted(report)).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await hosts.exec(i, `test -e ${gone}`)).code).not.toBe(0);
    const again = await cluster.json('apply', ['--templates', tree]);
    expect(changed(again.report)).toEqual([]);
    // The bundled tree has it again: the next apply puts it back.
    expect(changed((await cluster.json('apply')).report).filter(([, , summary]) => !summary.startsWith('record '))).toEqual(
      hosts.all().map((h) => ['os', h.name, expect.stringMatching(new RegExp(`^create ${gone} \\(0644 root:root, \\d+ bytes\\)$`)) as unknown as string]),
    );
  });

  it('a host that loses its worker role stops and disables its node agents and runtime, and loses their units, binaries and credentials', async () => {
    const host = hosts.host(2).name;
    await cluster.rewriteInventory({ layout: () => ['etcd', 'master', 'worker'], roles: { [host]: ['etcd', 'master'] } });
    try {
      const plan = await cluster.json('plan');
      expect(plan.run.code, plan.run.stderr).toBe(0);
      const planned = changed(plan.report);
      expect(planned.filter(([, h]) => h !== host)).toEqual([]);
      const summaries = planned.map(([phase, , summary]) => `${phase}: ${summary}`);
      expect(summaries).toEqual(
        expect.arrayContaining([
          'workers: stop and disable kubelet',
          'workers: stop and disable kube-proxy',
          'workers: remove /etc/systemd/system/kubelet.service',
          'artifacts: remove /opt/kube/bin/kubelet',
          'pki: remove /etc/kubernetes/kubelet.conf',
          'runtime: stop and disable containerd',
        ]),
      );

      const { run, report } = await cluster.json('apply');
      expect(run.code, run.stderr).toBe(0);
      expect(changed(report)).toEqual(planned);
      const state = await hosts.run(2, 'for u in kubelet kube-proxy containerd; do e=$(systemctl is-enabled $u 2>/dev/null); echo "$u $(systemctl is-active $u) ${e:-none}"; done');
      expect(state.trim().split('\n')).toEqual(['kubelet inactive none', 'kube-proxy inactive none', 'containerd inactive disabled']);
      for (const path of ['/etc/systemd/system/kubelet.service', '/opt/kube/bin/kubelet', '/opt/kube/bin/kube-proxy', '/etc/kubernetes/kubelet.conf', '/etc/kubernetes/pki/kubelet.key']) {
        expect([path, (await hosts.exec(2, `test -e ${path}`)).code]).toEqual([path, 1]);
      }
      // Still an etcd member and a master.
      expect((await hosts.run(2, 'systemctl is-active etcd kube-apiserver')).trim().split('\n')).toEqual(['active', 'active']);
      expect(changed((await cluster.json('apply')).report)).toEqual([]);
      const { code, rows } = await health(cluster);
      expect(failures(rows)).toEqual([]);
      expect(code).toBe(0);
    } finally {
      await cluster.rewriteInventory({ layout: () => ['etcd', 'master', 'worker'] });
    }
  });

  it('init refuses the existing cluster and points to apply', async () => {
    const run = await cluster.cli(['init', '--yes']);
    expect(run.code).toBe(2);
    expect(run.stderr + run.stdout).toMatch(/already has a CA[\s\S]*bootstrap apply/);
  });
});

describe.skipIf(!labAvailable())('bring-up: one master with etcd, two workers, then a third; flannel in kube mode', () => {
  const hosts = useLabHosts(4, { firewalld: true, prefix: 'mw' });
  const cluster = useLabCluster(hosts, { properties: { FLANNEL_MODE: 'kube' } });
  const first = () =>
    hosts
      .all()
      .slice(0, 3)
      .map((h) => h.name);

  it('a host that is down during init fails alone, and a later apply finishes it', async () => {
    await cluster.rewriteInventory({ hosts: first() });
    await hosts.run(2, 'systemctl stop ssh');
    try {
      const { run, report } = await cluster.json('init', ['--yes']);
      expect(run.code).toBe(1);
      expect(report.hosts.map((h) => [h.host, h.status])).toEqual([
        [hosts.host(0).name, 'changed'],
        [hosts.host(1).name, 'changed'],
        [hosts.host(2).name, 'unreachable'],
      ]);
    } finally {
      await hosts.run(2, 'systemctl start ssh');
    }
    const { run } = await cluster.json('apply');
    expect(run.code, run.stderr).toBe(0);
    const { code, rows } = await health(cluster);
    expect(failures(rows)).toEqual([]);
    expect(code).toBe(0);
    // Kube mode: each worker's flanneld took its node's podCIDR; the master, without a Node, runs none.
    const podCidrs = rows.filter((r) => r.check === 'node podCIDR (flannel)');
    expect(podCidrs.map((r) => r.host)).toEqual(first().slice(1));
    for (const [i, r] of podCidrs.entries()) expect(await hosts.run(i + 1, 'cat /run/flannel/subnet.env')).toContain(`FLANNEL_SUBNET=${r.detail.replace(/\.0\/24$/, '.1/24')}`);
    expect((await hosts.exec(0, 'systemctl is-enabled flanneld')).stdout.trim()).not.toBe('enabled');
  });

  it('adds a worker with apply --limit: it becomes Ready and nothing else is touched', async () => {
    const before = await Promise.all([0, 1, 2].map((i) => hosts.run(i, 'systemctl show -p MainPID --value kubelet kube-proxy flanneld etcd kube-apiserver containerd 2>/dev/null')));
    await cluster.rewriteInventory({});
    const newcomer = hosts.host(3).name;
    const { run, report } = await cluster.json('apply', ['--limit', newcomer]);
    expect(run.code, run.stderr).toBe(0);
    // verify only waits (for the newcomer's node): it touches nothing.
    expect([...new Set(report.results.filter((r) => r.phase !== 'verify' && r.changes.length + r.restarts.length > 0).map((r) => r.host))]).toEqual([newcomer]);
    const after = await Promise.all([0, 1, 2].map((i) => hosts.run(i, 'systemctl show -p MainPID --value kubelet kube-proxy flanneld etcd kube-apiserver containerd 2>/dev/null')));
    expect(after).toEqual(before);
    const { code, rows } = await health(cluster);
    expect(failures(rows)).toEqual([]);
    expect(rows.filter((r) => r.check === 'node Ready' && r.host === newcomer)).toHaveLength(1);
    expect(code).toBe(0);
  });

  it("then a plain apply changes the others' /etc/hosts and nothing else", async () => {
    const { run, report } = await cluster.json('apply');
    expect(run.code, run.stderr).toBe(0);
    expect(restarted(report)).toEqual([]);
    const changes = changed(report);
    expect(changes.map(([phase, , summary]) => [phase, summary.split(':')[0]])).toEqual(changes.map(() => ['os', expect.stringMatching(/hosts/) as unknown as string]));
  });

  it('reports a kubelet that fails to start with its journal lines, and the other hosts carry on', async () => {
    const worker = hosts.host(1).name;
    await cluster.rewriteInventory({ hostProperties: { [worker]: { CONTAINER_RUNTIME_ENDPOINT: 'unix:///run/nothing-here.sock' } } });
    const { run, report } = await cluster.json('apply');
    expect(run.code).toBe(1);
    const failed = report.results.find((r) => r.host === worker && r.status === 'failed')!;
    expect(failed.phase).toBe('workers');
    expect(failed.error!.message).toMatch(/^kubelet (keeps exiting|failed|is not ready)/);
    expect(failed.text.join('\n') + JSON.stringify(failed.error)).toMatch(/journal/);
    expect(report.hosts.filter((h) => h.host !== worker).every((h) => h.status === 'ok' || h.status === 'changed')).toBe(true);
    await cluster.rewriteInventory({});
    expect((await cluster.json('apply')).run.code).toBe(0);
  });
});

describe.skipIf(!labAvailable())('the CLI without a lab', () => {
  it('init without files and without a terminal says what it needs', async () => {
    const run = await runCli(['init', '--yes']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('init needs -i INVENTORY and -c CONFIG');
  });
});
