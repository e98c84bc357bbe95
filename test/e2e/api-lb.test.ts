import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { API_LB_SHOW_STAT } from '../../src/components/catalog.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import { KNOWN_KEYS } from '../../src/config/keys.js';
import { backendStates } from '../../src/health/api-lb.js';
import { startHost, stopHost } from '../lab/index.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * The node-local API load balancer (LB mode: three masters, MASTER_IP empty) with the lab's real
 * haproxy (Debian 12's package): the worker's kubelet, kube-proxy and checks reach the API servers
 * through it, so the cluster outlives master1; health names a master that is down and nothing else;
 * a change of haproxy's configuration reloads it and restarts nothing.
 */
interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

const KUBECTL = `${KNOWN_KEYS.BIN_PATH.default}/kubectl`;
/** The worker's own identity (the Node authorizer's), through whatever server its kubeconfig names: its load balancer. */
const AS_NODE = `${KUBECTL} --kubeconfig=${PKI_PATHS.kubeletConf} --request-timeout=10s`;
const WORKER = 3;
/** The services a reload of haproxy must leave alone, by main PID. */
const OTHERS = 'kubelet kube-proxy flanneld containerd';

async function health(cluster: ReturnType<typeof useLabCluster>): Promise<{ code: number; rows: HealthRow[] }> {
  const run = await cluster.cli(['health', '--output', 'json', '--connect-timeout', '3']);
  try {
    return { code: run.code, rows: (JSON.parse(run.stdout) as { checks: HealthRow[] }).checks };
  } catch {
    throw new Error(`health printed no JSON (exit ${run.code}):\n${run.stdout}${run.stderr}`);
  }
}

const failures = (rows: HealthRow[]) => rows.filter((r) => !r.ok);

async function backends(hosts: LabHosts): Promise<Array<[string, string]>> {
  return backendStates(await hosts.run(WORKER, API_LB_SHOW_STAT)).map((b) => [b.name, b.status]);
}

/** init of four hosts, the waits for a master's heartbeat grace and its return: longer than one apply. */
const LONG = 900_000;

/** Polls until `done` holds, for up to `seconds`; returns the last value either way. */
async function waitFor<T>(seconds: number, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let waited = 0; !done(value) && waited < seconds; waited += 2) {
    await sleep(2000);
    value = await read();
  }
  return value;
}

async function mainPids(hosts: LabHosts, units: string): Promise<string> {
  return hosts.run(WORKER, `systemctl show -p MainPID --value ${units}`);
}

describe.skipIf(!labAvailable())('node-local API load balancer: three masters, one worker, MASTER_IP empty', () => {
  const hosts = useLabHosts(4, { prefix: 'lb' });
  const cluster = useLabCluster(hosts, { layout: (i) => (i < WORKER ? ['etcd', 'master'] : ['worker']), properties: { VERIFY_PODS: 'false' } });
  const master = (i: number) => hosts.host(i).name;

  it(
    'init runs haproxy on the worker, with every master a backend that is UP, and its node agents use it',
    async () => {
      const { run, report } = await cluster.json('init', ['--yes']);
      expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
      expect(report.results.filter((r) => r.phase === 'api-lb').map((r) => r.host)).toEqual([hosts.host(WORKER).name]);
      expect((await hosts.run(WORKER, 'systemctl is-active haproxy')).trim()).toBe('active');
      const states = await waitFor(
        30,
        () => backends(hosts),
        (b) => b.every(([, s]) => s === 'UP'),
      );
      expect(states).toEqual([0, 1, 2].map((i) => [master(i), 'UP']));
      expect(await hosts.run(WORKER, `grep -h 'server:' ${PKI_PATHS.kubeletConf} ${PKI_PATHS.kubeProxyConf}`)).toMatch(/^( *server: https:\/\/127\.0\.0\.1:6443\n){2}$/);
      // Masters keep their own API server; no haproxy there.
      expect((await hosts.exec(0, 'systemctl is-active haproxy')).stdout.trim()).not.toBe('active');
      const { code, rows } = await health(cluster);
      expect(failures(rows)).toEqual([]);
      expect(code).toBe(0);
      // `UP 2/3`: up, one check of three failed (a slow answer); still a backend in use.
      const lb = rows.filter((r) => r.check === 'API load balancer');
      expect(lb.map((r) => r.host)).toEqual([hosts.host(WORKER).name]);
      expect(lb[0]!.detail).toMatch(new RegExp(`^${[0, 1, 2].map((i) => `${master(i)} UP( \\d/\\d)?`).join(', ')}$`));
    },
    LONG,
  );

  it('a second apply changes nothing and restarts nothing', async () => {
    const { run, report } = await cluster.json('apply');
    expect(run.code, errorsOf(report)).toBe(0);
    expect(report.results.flatMap((r) => [...r.changes.map((c) => `${r.host}: ${c.summary}`), ...r.restarts.map((x) => `${r.host}: restart ${x.service}`)])).toEqual([]);
  });

  it(
    'with master1 down (the whole host), the worker stays Ready through its load balancer, and health names master1 alone',
    async () => {
      await stopHost(hosts.lab.name, master(0));
      try {
        const stoppedAt = Number(await hosts.run(WORKER, 'date +%s'));
        const masterDown = [
          [master(0), 'DOWN'],
          [master(1), 'UP'],
          [master(2), 'UP'],
        ];
        // Through the transient `UP 2/3` of the others, whose checks time out while master1's vanish.
        expect(
          await waitFor(
            30,
            () => backends(hosts),
            (b) => JSON.stringify(b) === JSON.stringify(masterDown),
          ),
        ).toEqual(masterDown);
        // Past the controller manager's grace (40 s): a node whose kubelet lost the API would be Unknown by then.
        const worker = hosts.host(WORKER).name;
        const renewed = async () => Date.parse(await hosts.run(WORKER, `${AS_NODE} get lease -n kube-node-lease ${worker} -o jsonpath='{.spec.renewTime}'`)) / 1000;
        expect(await waitFor(90, renewed, (t) => t > stoppedAt + 45)).toBeGreaterThan(stoppedAt + 45);
        expect(await hosts.run(WORKER, `${AS_NODE} get node ${worker} -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'`)).toBe('True');
        expect(await hosts.run(WORKER, `${AS_NODE} get nodes -o name`)).toContain(`node/${worker}`);
        const { code, rows } = await health(cluster);
        expect(code).toBe(1);
        expect([...new Set(failures(rows).map((r) => r.host))], JSON.stringify(failures(rows))).toEqual([master(0)]);
        expect(rows.find((r) => r.check === 'node Ready' && r.host === worker)).toMatchObject({ ok: true });
        expect(rows.find((r) => r.check === 'API server behind the load balancers' && r.host === master(0))).toMatchObject({
          ok: false,
          detail: expect.stringMatching(new RegExp(`^DOWN .* on ${worker}$`)) as unknown as string,
        });
      } finally {
        await startHost(hosts.lab.name, master(0));
      }
    },
    LONG,
  );

  it(
    'with master1 back, the load balancer sends to it again and health is all ok',
    async () => {
      expect(
        await waitFor(
          180,
          () => backends(hosts),
          (b) => b.every(([, s]) => s === 'UP'),
        ),
      ).toEqual([0, 1, 2].map((i) => [master(i), 'UP']));
      const { code, rows } = await waitFor(
        120,
        () => health(cluster),
        (h) => h.code === 0,
      );
      expect(failures(rows)).toEqual([]);
      expect(code).toBe(0);
    },
    LONG,
  );

  it(
    'a changed backend list reloads haproxy (its main PID stays) and restarts nothing else; the next apply is a no-op',
    async () => {
      // What a change of the masters does to the file, made by hand: master3 is no longer a backend.
      await hosts.run(WORKER, `sed -i '/ server ${master(2)} /d' /etc/haproxy/haproxy.cfg && systemctl reload haproxy`);
      // A reload starts a new haproxy worker while the old one may still answer the stats socket for a moment.
      const reloaded = await waitFor(
        20,
        () => backends(hosts).catch((): Array<[string, string]> => []),
        (b) => b.length === 2,
      );
      expect(reloaded.map(([name]) => name)).toEqual([master(0), master(1)]);
      const before = { haproxy: await mainPids(hosts, 'haproxy'), others: await mainPids(hosts, OTHERS) };
      const plan = await cluster.json('plan');
      expect(plan.report.results.flatMap((r) => r.text.filter((l) => /^\s+[~↻] /.test(l) && l.includes('haproxy')).map((l) => `${r.host}:${l.trim().split(' because')[0]}`))).toEqual([
        `${hosts.host(WORKER).name}:~ update /etc/haproxy/haproxy.cfg`,
        `${hosts.host(WORKER).name}:↻ reload haproxy (then wait until it answers on its stats socket with an API server UP)`,
      ]);
      const { run, report } = await cluster.json('apply');
      expect(run.code, errorsOf(report)).toBe(0);
      expect(restartsOf(report)).toEqual([`${hosts.host(WORKER).name}: haproxy`]);
      expect(await mainPids(hosts, 'haproxy')).toBe(before.haproxy);
      expect(await mainPids(hosts, OTHERS)).toBe(before.others);
      expect(
        await waitFor(
          30,
          () => backends(hosts),
          (b) => b.length === 3 && b.every(([, s]) => s === 'UP'),
        ),
      ).toEqual([0, 1, 2].map((i) => [master(i), 'UP']));
      const again = await cluster.json('apply');
      expect(again.run.code).toBe(0);
      expect(again.report.results.flatMap((r) => r.changes)).toEqual([]);
      expect(restartsOf(again.report)).toEqual([]);
    },
    LONG,
  );
});

function restartsOf(report: JsonReport): string[] {
  return report.results.flatMap((r) => r.restarts.map((x) => `${r.host}: ${x.service}`));
}
