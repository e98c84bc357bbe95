import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PKI_PATHS } from '../../src/components/paths.js';
import { labBundle, labBundleRecord } from '../lab/bundle.js';
import { TRIXIE_ETCD } from '../lab/bundle-debs.js';
import { bundleVersionProperties, setProperties } from '../lab/cluster-config.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';
import { maxConcurrent, nodesBefore, serviceMonitor, type MonitorResult } from './support/service-monitor.js';

/**
 * Issue 24's "done when" on three lab hosts, each an etcd member, a master and a node: a cluster on
 * Debian 13's etcd 3.5.16, the previous generation's runtime (Debian 12's containerd 1.6 and Docker
 * 20.10) and Kubernetes 1.35 becomes one on the current generation's etcd 3.5.30 and runtime (Debian
 * unstable's containerd 2.1 and Docker 28) and 1.36 with one apply of the edited versions, watched
 * while it runs; then a 1.36 -> 1.37 upgrade is SIGKILLed after the first API server restarted on its
 * new binary, and the next apply finishes it.
 *
 * The old etcd is trixie's (bundle-debs.ts TRIXIE_ETCD), not the previous generation's: Debian 12's
 * 3.4.23 is older than the 3.4.29 that every Kubernetes minor kubestrap supports needs
 * (src/upstream/etcd.ts; config load refuses it). The upgrade must restart each member once on the
 * new binary, never two at once, and etcd keep its data.
 *
 * The stand-ins play the Kubernetes versions (each bundle bakes its own); etcd and containerd are the
 * real Debian builds. Neither containerd is in upstream's table for its minor (1.6 is in no row from
 * 1.35 on, 2.1 in none from 1.36 on): the cluster runs them with CONTAINERD_ALLOW_UNSUPPORTED=true, as
 * an operator of a distribution's builds would, and takes them as the release binaries (static)
 * from the bundles, so that the upgrade moves containerd with CONTAINERD_VERSION.
 */
const OLD_KUBE = 'v1.35.0';
const NEW_KUBE = 'v1.36.0';
const NEXT_KUBE = 'v1.37.0';
const BIN = '/opt/kube/bin';
const ETCDCTL = `${BIN}/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=${PKI_PATHS.etcdCaCert} --cert=${PKI_PATHS.etcdAdminClientCert} --key=${PKI_PATHS.etcdAdminClientKey}`;
const KUBECTL = `${BIN}/kubectl --kubeconfig=${PKI_PATHS.adminConf}`;
const MARKER_KEY = '/kubestrap-e2e/before-upgrade';

interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

const log = (msg: string) => console.log(`[upgrade-rolling] ${msg}`);

describe.skipIf(!labAvailable())('a rolling upgrade of etcd, containerd and Kubernetes on three masters, etcd members and nodes', () => {
  const hosts = useLabHosts(3, { prefix: 'ur', generation: 'previous' });
  const cluster = useLabCluster(hosts, { layout: () => ['etcd', 'master', 'worker'] });
  const bundles = { old: '', next: '', after: '' };
  const name = (i: number) => hosts.host(i).name;
  const all = [0, 1, 2];

  beforeAll(async () => {
    bundles.old = await labBundle({ generation: 'previous', kubeVersion: OLD_KUBE, projectsFrom: { etcd: TRIXIE_ETCD }, log });
    bundles.next = await labBundle({ generation: 'current', kubeVersion: NEW_KUBE, log });
    bundles.after = await labBundle({ generation: 'current', kubeVersion: NEXT_KUBE, log });
    // See the file's comment: Debian's containerd builds, outside upstream's table, taken from the bundle.
    setProperties(cluster.config, { ...bundleVersionProperties(bundles.old), CONTAINER_RUNTIME_SOURCE: 'static', CONTAINERD_ALLOW_UNSUPPORTED: 'true' });
  }, 600_000);

  const withBundle = (bundle: string, extra: string[] = []) => ['--bundle', bundle, ...extra];
  const health = async (): Promise<HealthRow[]> => {
    const out = await cluster.cli(['health', '--output', 'json']);
    return (JSON.parse(out.stdout) as { checks: HealthRow[] }).checks;
  };
  /** health's rows, every one of them ok (the failing ones are the message otherwise). */
  const healthyRows = async (): Promise<HealthRow[]> => {
    const rows = await health();
    const failing = rows.filter((r) => !r.ok);
    expect(failing, JSON.stringify(failing)).toEqual([]);
    return rows;
  };
  const detailOf = (rows: HealthRow[], check: string, host: string) => rows.find((r) => r.check === check && r.host === host)?.detail;
  const changes = (report: JsonReport) => report.results.flatMap((r) => r.changes.map((c) => `${r.phase} ${r.host}: ${c.summary}`));
  const apiserverStart = (i: number) => hosts.run(i, 'systemctl show -p ActiveEnterTimestampMonotonic --value kube-apiserver').then((s) => Number(s.trim()));
  const cordons = () => hosts.run(0, `${KUBECTL} get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.spec.unschedulable}={.metadata.annotations.kubestrap\\.io/drained}{"\\n"}{end}'`);

  it('init makes the cluster on the previous generation and Kubernetes 1.35, containerd config format v2', async () => {
    expect(labBundleRecord(bundles.old).containerdSupported).toBe(false);
    const started = Date.now();
    const { run, report } = await cluster.json('init', withBundle(bundles.old, ['--yes']));
    expect(run.code, `${errorsOf(report)}\n${run.stderr.slice(-3000)}`).toBe(0);
    log(`init of 3 hosts: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const rows = await healthyRows();
    for (const i of all) {
      expect(detailOf(rows, 'kubelet version', name(i))).toBe(OLD_KUBE);
      expect(detailOf(rows, 'containerd version', name(i))).toBe(labBundleRecord(bundles.old).versions.containerd);
      expect(await hosts.run(i, 'grep -m1 "^version" /etc/containerd/config.toml')).toMatch(/^version = 2/);
    }
    for (const i of all) expect(detailOf(rows, 'etcd version', name(i))).toBe(labBundleRecord(bundles.old).versions.etcd);
    await hosts.run(0, `${ETCDCTL} put ${MARKER_KEY} written-before`);
  }, 900_000);

  it('one apply upgrades etcd, containerd and Kubernetes: each etcd member restarted once, one API server and one etcd member down at most, each node drained around its containerd and kubelet restarts', async () => {
    expect(labBundleRecord(bundles.old).versions.etcd).not.toBe(labBundleRecord(bundles.next).versions.etcd);
    setProperties(cluster.config, bundleVersionProperties(bundles.next));
    const monitor = serviceMonitor(hosts);
    await monitor.start();
    let seen: MonitorResult;
    const started = Date.now();
    const { run, report } = await cluster.json('apply', withBundle(bundles.next));
    try {
      expect(run.code, `${errorsOf(report)}\n${run.stderr.slice(-3000)}`).toBe(0);
    } finally {
      seen = await monitor.stop();
    }
    log(`upgrade apply: ${((Date.now() - started) / 1000).toFixed(0)} s, ${seen.samples} samples per host, ${seen.nodes.length} node samples`);
    log(`restarts the report gives: ${report.results.flatMap((r) => r.restarts.map((x) => `${r.phase} ${r.host} ${x.service}`)).join(', ')}`);
    log(
      `drain steps the report gives: ${changes(report)
        .filter((c) => /drain|uncordon/.test(c))
        .join(', ')}`,
    );
    for (const service of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'containerd', 'docker'] as const) {
      const restarts = seen.down.filter((d) => d.service === service);
      const most = maxConcurrent(seen.down, service);
      log(`${service}: ${restarts.length} restarts, at most ${most.count} down at once (${most.hosts.join(', ')})`);
      for (const d of restarts) log(`  ${service} of ${d.host} down ${(d.from - seen.since).toFixed(2)}-${(d.to - seen.since).toFixed(2)} s`);
      // Two down at once: what their journals say of why, so a failure tells kubestrap's restart from a crash.
      if (most.count > 1)
        for (const h of most.hosts)
          log(`  journal of ${service} on ${h}:\n${await hosts.run(all.find((i) => name(i) === h)!, `journalctl -u ${service} -n 40 --no-pager -o short-monotonic 2>&1 | tail -n 40`)}`);
    }
    // Every API server restarted onto its new version, never two at once; every etcd member once, never two down at once either.
    expect(new Set(seen.down.filter((d) => d.service === 'kube-apiserver').map((d) => d.host))).toEqual(new Set(all.map(name)));
    expect(
      seen.down
        .filter((d) => d.service === 'etcd')
        .map((d) => d.host)
        .sort(),
    ).toEqual(all.map(name).sort());
    // --max-unavailable 1: one node's runtime down at a time as well.
    for (const service of ['etcd', 'kube-apiserver', 'containerd', 'docker'] as const) expect(maxConcurrent(seen.down, service).count, service).toBeLessThanOrEqual(1);
    // New release binaries restart both runtimes on every node (in its drain, below).
    for (const service of ['containerd', 'docker'] as const) expect(new Set(seen.down.filter((d) => d.service === service).map((d) => d.host)), service).toEqual(new Set(all.map(name)));
    // Each kubelet restart fell inside its node's drain: cordoned and marked by kubestrap before it went down.
    // The runtime's restarts too (kubelet's unit Requires containerd: its restart restarts the kubelet).
    const nodeAgents = seen.down.filter((d) => ['kubelet', 'containerd', 'docker'].includes(d.service)).sort((a, b) => a.from - b.from);
    const undrained = nodeAgents.filter((d) => {
      const before = nodesBefore(seen.nodes, d.from)?.nodes.get(d.host);
      log(`${d.service} of ${d.host} down ${(d.from - seen.since).toFixed(2)}-${(d.to - seen.since).toFixed(2)} s: its node before it ${JSON.stringify(before)}`);
      return !(before?.cordoned && before.marked);
    });
    expect(new Set(nodeAgents.filter((d) => d.service === 'kubelet').map((d) => d.host))).toEqual(new Set(all.map(name)));
    expect(
      undrained.map((d) => `${d.host} at ${(d.from - seen.since).toFixed(2)} s`),
      'node agent and runtime restarts of a node not drained',
    ).toEqual([]);
    // All put back.
    expect(await cordons()).toBe(all.map((i) => `${name(i)}==\n`).join(''));
  }, 900_000);

  it('after it: health all ok on the new versions, every etcd member on the new etcd, containerd config format v3, etcd kept its data, a second apply is a no-op', async () => {
    const rows = await healthyRows();
    const next = labBundleRecord(bundles.next).versions;
    for (const i of all) {
      expect(detailOf(rows, 'kubelet version', name(i))).toBe(NEW_KUBE);
      expect(detailOf(rows, 'kube-apiserver version', name(i))).toBe(NEW_KUBE);
      expect(detailOf(rows, 'etcd version', name(i))).toBe(next.etcd);
      expect(await hosts.run(i, `${BIN}/etcd --version`)).toContain(`etcd Version: ${next.etcd!.replace(/^v/, '')}\n`);
      expect(detailOf(rows, 'containerd version', name(i))).toBe(next.containerd);
      expect(await hosts.run(i, 'grep -m1 "^version" /etc/containerd/config.toml')).toMatch(/^version = 3/);
    }
    expect(await hosts.run(1, `${ETCDCTL} get --print-value-only ${MARKER_KEY}`)).toBe('written-before\n');
    // The new daemons run: a binary replaced under a running dockerd or containerd reads '(deleted)'.
    for (const i of all) {
      for (const unit of ['docker', 'containerd']) expect(await hosts.run(i, `readlink /proc/$(systemctl show -p MainPID --value ${unit})/exe`)).not.toContain('(deleted)');
    }
    const { run, report } = await cluster.json('apply', withBundle(bundles.next));
    expect(run.code, errorsOf(report)).toBe(0);
    expect(changes(report)).toEqual([]);
  }, 600_000);

  /** An apply in a process of its own, killed with SIGKILL once `until` holds (polled every 0.2 s); fails if the run ends first. */
  const killedApply = async (until: () => Promise<boolean>, what: string): Promise<void> => {
    const args = ['apply', '--output', 'json', '--bundle', bundles.after, '-i', cluster.inventory, '-c', cluster.config];
    const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'src/cli/entry.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const output: string[] = [];
    child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    let alive = true;
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        alive = false;
        resolve();
      }),
    );
    while (alive && !(await until())) await new Promise((r) => setTimeout(r, 200));
    expect(alive, `the run ended before ${what}:\n${output.join('').slice(-4000)}`).toBe(true);
    child.kill('SIGKILL');
    await exited;
  };

  it('SIGKILL after the first API server restarted on 1.37, then again during a drain: the next apply finishes the rest, the first stays as it is', async () => {
    setProperties(cluster.config, bundleVersionProperties(bundles.after));
    const before = await Promise.all(all.map(apiserverStart));
    // The roll moves on to the second master once the first is ready and its restart no longer owed:
    // the kill comes as the second one's restart begins.
    const secondLeft = () => hosts.run(1, 'systemctl show -p ActiveExitTimestampMonotonic --value kube-apiserver').then((x) => Number(x.trim()));
    const secondBefore = await secondLeft();
    await killedApply(async () => (await secondLeft()) !== secondBefore, "the second API server's restart");
    const atKill = await Promise.all(all.map(apiserverStart));
    const firstRestarted = atKill[0]!;
    expect(firstRestarted, 'the killed run restarted the first API server').not.toBe(before[0]);
    expect(await hosts.run(0, `${BIN}/kube-apiserver --version`)).toContain(NEXT_KUBE);
    log(
      `first kill: API servers restarted by then: ${all
        .filter((i) => atKill[i] !== before[i])
        .map(name)
        .join(', ')}`,
    );

    // The next run is killed too, while it has a node drained: the run after it must put the node back.
    await killedApply(async () => /=true=true$/m.test(await cordons().catch(() => '')), 'a node was drained');
    const leftCordoned = await cordons();
    log(`second kill: nodes ${leftCordoned.trim().replaceAll('\n', ' ')}`);
    expect(leftCordoned).toMatch(/=true=true$/m);

    const { run, report } = await cluster.json('apply', withBundle(bundles.after));
    expect(run.code, `${errorsOf(report)}\n${run.stderr.slice(-3000)}`).toBe(0);
    const restarted = report.results.flatMap((r) => r.restarts.map((x) => `${r.host} ${x.service}`));
    log(`the finishing apply restarted: ${restarted.join(', ')}`);
    expect(await apiserverStart(0), 'the first API server is not restarted again').toBe(firstRestarted);
    expect(restarted).not.toContain(`${name(0)} kube-apiserver`);
    for (const i of [1, 2]) if (atKill[i] === before[i]) expect(await apiserverStart(i)).not.toBe(before[i]);

    const rows = await healthyRows();
    for (const i of all) {
      expect(detailOf(rows, 'kube-apiserver version', name(i))).toBe(NEXT_KUBE);
      expect(detailOf(rows, 'kubelet version', name(i))).toBe(NEXT_KUBE);
    }
    // No node left cordoned or marked by the killed run.
    expect(await cordons()).toBe(all.map((i) => `${name(i)}==\n`).join(''));
    const third = await cluster.json('apply', withBundle(bundles.after));
    expect(third.run.code, errorsOf(third.report)).toBe(0);
    expect(changes(third.report)).toEqual([]);
  }, 900_000);
});
