import { describe, expect, it } from 'vitest';
import type { Restart } from '../../src/engine/handlers.js';
import type { RunReport } from '../../src/engine/report.js';
import type { FileResource, ReadinessCheck, Resource, ServiceResource } from '../../src/engine/resource.js';
import { rollingOrder, serviceOrder } from '../../src/engine/rolling-order.js';
import { runEngine, type TestPhase } from '../support/engine-run.js';
import { useTempDir } from '../support/tmp.js';
import { fakeCluster, type FakeCluster } from './support/fake-cluster.js';
import { LOCAL_OWNER, type HostModel } from './support/fake-host.js';

/**
 * Rolling restarts go service by service (rolling-order.ts): every host's first service, one host
 * at a time, before any host's next one. On fake hosts (the engine's real scripts, the restarts and
 * readiness waits as events), as a control plane's three services on three masters.
 */
const CONF = '/etc/demo/control.conf';
const SERVICES = ['api', 'manager', 'scheduler'];
const ready = (unit: string): ReadinessCheck => ({ check: `fake-ready ${unit}`, description: 'answers', timeoutSec: 0 });
const conf = (content: string): FileResource => ({ kind: 'file', path: CONF, content, mode: 0o644, ...LOCAL_OWNER, restarts: SERVICES });
const rolling = (name: string): ServiceResource => ({ kind: 'service', name, enabled: true, running: true, rolling: true, ready: ready(name) });
const controlPlane: TestPhase = { name: 'control', title: 'control', appliesTo: () => true, resources: () => [conf('v=2\n'), ...SERVICES.map(rolling)] };
const running = (units: HostModel['units'] = {}): HostModel => ({
  files: { [CONF]: 'v=1\n' },
  units: { ...Object.fromEntries(SERVICES.map((s) => [s, { enabled: true, active: true }])), ...units },
});
const converge = (cluster: FakeCluster): Promise<RunReport> => runEngine(cluster.spec, cluster, [controlPlane], 'apply');
const restart = (service: string): Restart => ({ service, because: [CONF], managed: true, rolling: true });

describe('rolling restarts, service by service', () => {
  const tmp = useTempDir();

  it("restarts every host's first service, one host at a time, before any host's next service", async () => {
    // Inventory order is not alphabetical: within a service the roll follows the inventory.
    const cluster = fakeCluster(tmp(), { m2: running(), m1: running(), m3: running() });
    const report = await converge(cluster);

    const restarts = cluster.takeEvents().filter((e) => e.includes(' restart '));
    expect(restarts).toEqual(SERVICES.flatMap((s) => ['m2', 'm1', 'm3'].map((h) => `${h} restart ${s}`)));
    expect(report.results.map((r) => [r.host, r.status, r.restarts.map((x) => x.service)])).toEqual(['m2', 'm1', 'm3'].map((h) => [h, 'changed', SERVICES]));
  });

  it('waits for each restart to be ready before the next one', async () => {
    const cluster = fakeCluster(tmp(), { m1: running(), m2: running() });
    await converge(cluster);

    const events = cluster.takeEvents().filter((e) => / (restart|ready) /.test(e));
    expect(events).toEqual(SERVICES.flatMap((s) => ['m1', 'm2'].flatMap((h) => [`${h} restart ${s}`, `${h} ready ${s}`])));
  });

  it('stops at the first failure: the restarts not done keep their debt, and the next run does them in the same order', async () => {
    const cluster = fakeCluster(tmp(), { m1: running(), m2: running({ manager: { enabled: true, active: true, unready: true } }), m3: running() });
    const report = await converge(cluster);

    expect(cluster.takeEvents().filter((e) => / (restart|not-ready) /.test(e))).toEqual([
      'm1 restart api',
      'm2 restart api',
      'm3 restart api',
      'm1 restart manager',
      'm2 restart manager',
      'm2 not-ready manager',
    ]);
    expect(report.results.map((r) => [r.host, r.status])).toEqual([
      ['m1', 'changed'],
      ['m2', 'failed'],
      ['m3', 'changed'],
    ]);
    const owed = (host: string) => cluster.host(host).read('/var/lib/kubestrap/pending-restarts')?.split('\n').filter(Boolean).sort();
    expect([owed('m1'), owed('m2'), owed('m3')]).toEqual([['scheduler'], ['manager', 'scheduler'], ['manager', 'scheduler']]);

    cluster.host('m2').setUnit('manager', { enabled: true, active: true });
    await converge(cluster);
    expect(cluster.takeEvents().filter((e) => e.includes(' restart '))).toEqual(['m2 restart manager', 'm3 restart manager', 'm1 restart scheduler', 'm2 restart scheduler', 'm3 restart scheduler']);
    expect([owed('m1'), owed('m2'), owed('m3')]).toEqual([undefined, undefined, undefined]);
  });

  it('orders services as the phase declares them, then any other, each host in the order given', () => {
    const resources: Resource[] = [conf('v=1\n'), ...SERVICES.map(rolling)];
    expect(serviceOrder(resources)).toEqual(SERVICES);
    const order = rollingOrder([
      { host: 'a', restarts: [restart('scheduler'), restart('extra')], services: SERVICES },
      { host: 'b', restarts: [restart('api'), restart('scheduler')], services: SERVICES },
    ]);
    expect(order.map((x) => `${x.host} ${x.restart.service}`)).toEqual(['b api', 'a scheduler', 'b scheduler', 'a extra']);
  });
});
