import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import type { HostBatches } from '../../src/engine/host-batches.js';
import type { RunReport } from '../../src/engine/report.js';
import type { FileResource, ReadinessCheck, ServiceResource } from '../../src/engine/resource.js';
import { runEngine, type TestPhase } from '../support/engine-run.js';
import { useTempDir } from '../support/tmp.js';
import { fakeCluster, type FakeCluster } from './support/fake-cluster.js';
import { LOCAL_OWNER, type HostModel } from './support/fake-host.js';

/**
 * A restart an earlier phase owes to a service that a later batched phase feeds is done in that
 * phase's window, on the hosts it takes out of service (runner.ts laterServices): a node is drained
 * once, around its runtime's restart and its agent's. On fake hosts (the engine's real scripts,
 * the steps and restarts as events), as a runtime phase and a nodes phase.
 */
const RT_CONF = '/etc/demo/runtime.conf';
const NODE_CONF = '/etc/demo/node.conf';
const PENDING = '/var/lib/kubestrap/pending-restarts';
const ready = (unit: string): ReadinessCheck => ({ check: `fake-ready ${unit}`, description: 'answers', timeoutSec: 0 });
const conf = (path: string, content: string, restarts: string[]): FileResource => ({ kind: 'file', path, content, mode: 0o644, ...LOCAL_OWNER, restarts });
const running = (name: string): ServiceResource => ({ kind: 'service', name, enabled: true, running: true, ready: ready(name) });

const runtime: TestPhase = { name: 'runtime', title: 'runtime', appliesTo: () => true, resources: () => [conf(RT_CONF, 'rt=2\n', ['rt']), running('rt')] };
/** The node agent's phase: it feeds the runtime (no wish about its state), before its own service, so the runtime restarts first. */
const nodes: TestPhase = {
  name: 'nodes',
  title: 'nodes',
  appliesTo: () => true,
  resources: () => [conf(NODE_CONF, 'node=2\n', ['node']), { kind: 'service', name: 'rt', ready: ready('rt') }, running('node')],
  batches: (): HostBatches<HostSpec> => ({
    size: 1,
    candidates: ['n1', 'n2'],
    before: { describe: (t) => `drain ${t.name}`, script: (t) => `note drain ${t.name}`, timeoutSec: 5 },
    after: { describe: (t) => `uncordon ${t.name}`, script: (t) => `note uncordon ${t.name}`, timeoutSec: 5 },
    serving: (h) => h.name !== 'new',
  }),
};

/** A host running both services, its files at the versions given. */
function host(rt: string, node: string, more: Record<string, string> = {}): HostModel {
  return { files: { [RT_CONF]: `rt=${rt}\n`, [NODE_CONF]: `node=${node}\n`, ...more }, units: { rt: { enabled: true, active: true }, node: { enabled: true, active: true } } };
}

const run = (cluster: FakeCluster, mode: 'plan' | 'apply' = 'apply'): Promise<RunReport> => runEngine(cluster.spec, cluster, [runtime, nodes], mode);
const steps = (events: string[]) => events.filter((e) => / (drain|uncordon|restart|start) /.test(e));
const restartsOf = (report: RunReport, phase: string, h: string) =>
  report.results.filter((r) => r.phase === phase && r.host === h).flatMap((r) => r.restarts.map((x) => [x.service, x.because, x.deferredTo ?? null]));

describe("restarts done in a later phase's window", () => {
  const tmp = useTempDir();

  it('an upgrade of both drains each serving node once: the runtime restarts inside it, before the agent', async () => {
    const cluster = fakeCluster(tmp(), { n1: host('1', '1'), n2: host('1', '1') });
    const report = await run(cluster);

    expect(steps(cluster.takeEvents())).toEqual(['n1 drain n1', 'n1 restart rt', 'n1 restart node', 'n1 uncordon n1', 'n1 drain n2', 'n2 restart rt', 'n2 restart node', 'n1 uncordon n2']);
    expect(restartsOf(report, 'runtime', 'n1')).toEqual([]);
    expect(restartsOf(report, 'nodes', 'n1')).toEqual([
      ['rt', [RT_CONF], null],
      ['node', [NODE_CONF], null],
    ]);
    expect(cluster.host('n2').read(PENDING)).toBeUndefined();
  });

  it('a change of the runtime alone drains the node too', async () => {
    const cluster = fakeCluster(tmp(), { n1: host('2', '2'), n2: host('1', '2') });
    await run(cluster);

    expect(steps(cluster.takeEvents())).toEqual(['n1 drain n2', 'n2 restart rt', 'n1 uncordon n2']);
  });

  it('a host the batched phase does not take out (a new one) restarts its runtime in the runtime phase, with no drain', async () => {
    const cluster = fakeCluster(tmp(), { n1: host('2', '2'), new: host('1', '2') });
    const report = await run(cluster);

    expect(steps(cluster.takeEvents())).toEqual(['new restart rt']);
    expect(restartsOf(report, 'runtime', 'new')).toEqual([['rt', [RT_CONF], null]]);
    expect(restartsOf(report, 'nodes', 'new')).toEqual([]);
  });

  it('plan shows the restart under the phase that does it, inside the drain, and the earlier phase points to it', async () => {
    const cluster = fakeCluster(tmp(), { n1: host('1', '2'), n2: host('2', '2') });
    const report = await run(cluster, 'plan');

    expect(cluster.takeEvents()).toEqual([]);
    expect(restartsOf(report, 'runtime', 'n1')).toEqual([['rt', [RT_CONF], 'nodes']]);
    expect(restartsOf(report, 'nodes', 'n1')).toEqual([['rt', [RT_CONF], null]]);
    const nodeChanges = report.results.find((r) => r.phase === 'nodes' && r.host === 'n1')!.changes.map((c) => c.summary);
    expect([nodeChanges[0], nodeChanges.at(-1)]).toEqual(['drain n1 (on n1)', 'uncordon n1 (on n1)']);
    // n2 has nothing to restart: it is not taken out.
    expect(report.results.filter((r) => r.host === 'n2').flatMap((r) => [...r.restarts.map((x) => x.service), ...r.changes.map((c) => c.summary).filter((c) => /drain|uncordon/.test(c))])).toEqual([]);
  });

  it('a run stopped after the runtime phase left the restart owed: the next one drains the node for it', async () => {
    const cluster = fakeCluster(tmp(), { n1: host('2', '2', { [PENDING]: 'rt\n' }), n2: host('2', '2') });
    const report = await run(cluster);

    expect(steps(cluster.takeEvents())).toEqual(['n1 drain n1', 'n1 restart rt', 'n1 uncordon n1']);
    expect(restartsOf(report, 'nodes', 'n1')).toEqual([['rt', ['an earlier run changed its inputs but did not finish restarting it'], null]]);
    expect(cluster.host('n1').read(PENDING)).toBeUndefined();
  });
});
