import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import type { AroundStep, HostBatches } from '../../src/engine/host-batches.js';
import { inBatches } from '../../src/engine/host-batches.js';
import type { RunReport } from '../../src/engine/report.js';
import type { FileResource, ReadinessCheck, ServiceResource } from '../../src/engine/resource.js';
import { runEngine, type TestPhase } from '../support/engine-run.js';
import { useTempDir } from '../support/tmp.js';
import { fakeCluster, type FakeCluster } from './support/fake-cluster.js';
import { LOCAL_OWNER, type HostModel } from './support/fake-host.js';

/**
 * Hosts taken out of service a batch at a time (host-batches.ts), on fake hosts: the engine's real
 * scripts, the steps as notes in the hosts' event log (`<host that ran it> <note>`), so the order
 * of drains, restarts and uncordons across hosts is what the test reads.
 */
const CONF = '/etc/demo/node.conf';
const ready: ReadinessCheck = { check: 'fake-ready node', description: 'answers', timeoutSec: 0 };
const conf = (content: string): FileResource => ({ kind: 'file', path: CONF, content, mode: 0o644, ...LOCAL_OWNER, restarts: ['node'] });
const node: ServiceResource = { kind: 'service', name: 'node', enabled: true, running: true, ready };
const serving = (content: string): HostModel => ({ files: { [CONF]: content }, units: { node: { enabled: true, active: true } } });

/** A step that notes `<verb> <target>` on the host it runs on, unless `script` says otherwise. */
function step(verb: string, script = (t: HostSpec) => `note ${verb} ${t.name}`): AroundStep<HostSpec> {
  return { describe: (t) => `${verb} ${t.name}`, script, timeoutSec: 5 };
}

function batches(size: number, more: Partial<HostBatches<HostSpec>> = {}): HostBatches<HostSpec> {
  return {
    size,
    candidates: ['n1', 'n2', 'n3'],
    before: step('drain'),
    after: step('uncordon'),
    serving: (h) => h.name !== 'new',
    ...more,
  };
}

function nodes(b: HostBatches<HostSpec>): TestPhase {
  return { name: 'nodes', title: 'nodes', appliesTo: () => true, resources: () => [conf('v=2\n'), node], batches: () => b };
}

const run = (cluster: FakeCluster, b: HostBatches<HostSpec>, mode: 'plan' | 'apply' = 'apply'): Promise<RunReport> => runEngine(cluster.spec, cluster, [nodes(b)], mode);
const summaries = (report: RunReport, host: string) => report.results.filter((r) => r.host === host).flatMap((r) => r.changes.map((c) => c.summary));

describe('hosts a batch at a time, each taken out of service around its changes', () => {
  const tmp = useTempDir();

  it('drains, changes and uncordons one host after the other, in inventory order, and leaves a host without changes alone', async () => {
    const cluster = fakeCluster(tmp(), { n3: serving('v=1\n'), n1: serving('v=2\n'), n2: serving('v=1\n') });
    const report = await run(cluster, batches(1));

    // The steps run on the first candidate (n1), which itself has nothing that restarts.
    expect(cluster.takeEvents()).toEqual(['n1 drain n3', 'n3 restart node', 'n3 ready node', 'n1 uncordon n3', 'n1 drain n2', 'n2 restart node', 'n2 ready node', 'n1 uncordon n2']);
    expect(summaries(report, 'n2')).toEqual(['drain n2 (on n1)', `update ${CONF}`, expect.stringContaining('record what the nodes phase installed') as unknown, 'uncordon n2 (on n1)']);
    expect(summaries(report, 'n1').filter((s) => /drain|uncordon/.test(s))).toEqual([]);
  });

  it('plan shows the steps around the changes of each changed host, and runs none', async () => {
    const cluster = fakeCluster(tmp(), { n1: serving('v=1\n'), n2: serving('v=2\n') });
    const report = await run(cluster, batches(1), 'plan');

    expect(summaries(report, 'n1')).toEqual(['drain n1 (on n1)', `update ${CONF}`, expect.stringContaining('record what the nodes phase installed') as unknown, 'uncordon n1 (on n1)']);
    expect(summaries(report, 'n2').filter((s) => /drain|uncordon/.test(s))).toEqual([]);
    expect(cluster.takeEvents()).toEqual([]);
  });

  it('takes `size` hosts out at once: the second batch starts once the first is back', async () => {
    const cluster = fakeCluster(tmp(), { n1: serving('v=1\n'), n2: serving('v=1\n'), n3: serving('v=1\n') });
    await run(cluster, batches(2));

    const events = cluster.takeEvents();
    const at = (e: string) => events.indexOf(e);
    expect(Math.max(at('n1 uncordon n1'), at('n1 uncordon n2'))).toBeLessThan(at('n1 drain n3'));
    expect(Math.max(at('n1 drain n1'), at('n1 drain n2'))).toBeLessThan(Math.min(at('n1 uncordon n1'), at('n1 uncordon n2')));
    expect(events.filter((e) => e.includes('drain'))).toHaveLength(3);
  });

  it('a host that cannot be taken out is not changed, and the hosts of later batches wait for the next run', async () => {
    const cluster = fakeCluster(tmp(), { n1: serving('v=1\n'), n2: serving('v=1\n'), n3: serving('v=1\n') });
    const report = await run(cluster, batches(1, { before: step('drain', (t) => (t.name === 'n2' ? 'echo pods would not leave >&2; exit 1' : `note drain ${t.name}`)) }));

    expect(cluster.takeEvents()).toEqual(['n1 drain n1', 'n1 restart node', 'n1 ready node', 'n1 uncordon n1']);
    const n2 = report.results.find((r) => r.host === 'n2')!;
    expect([n2.status, n2.error?.message]).toEqual(['failed', 'could not drain n2 (on n1)']);
    expect(cluster.host('n2').read(CONF)).toBe('v=1\n');
    expect(report.results.find((r) => r.host === 'n3')?.error?.message).toContain('n2 failed first');
    expect(cluster.host('n3').read(CONF)).toBe('v=1\n');
  });

  it('after a failure, a host of a later batch whose changes disrupt nothing carries on', async () => {
    const cluster = fakeCluster(tmp(), { n1: serving('v=1\n'), n2: serving('v=1\n'), n3: serving('v=2\n') });
    const report = await run(cluster, batches(1, { before: step('drain', (t) => (t.name === 'n1' ? 'exit 1' : `note drain ${t.name}`)) }));

    expect(report.results.find((r) => r.host === 'n2')?.error?.message).toContain('n1 failed first');
    const n3 = report.results.find((r) => r.host === 'n3')!;
    expect(n3.status).not.toBe('failed');
    expect(cluster.takeEvents().filter((e) => e.includes('n3'))).toEqual([]);
  });

  it('changes a host that does not serve yet with no step around it, before the others', async () => {
    const cluster = fakeCluster(tmp(), { n1: serving('v=1\n'), new: { units: { node: {} } } });
    await run(cluster, batches(1));

    expect(cluster.takeEvents()).toEqual(['new enable node', 'new start node', 'new ready node', 'n1 drain n1', 'n1 restart node', 'n1 ready node', 'n1 uncordon n1']);
  });

  it('a step the controller does itself (apply) runs no command on any host, and its throw fails the target with its words and hint', async () => {
    const cluster = fakeCluster(tmp(), { n1: serving('v=1\n'), n2: serving('v=1\n') });
    const done: string[] = [];
    const byController = (verb: string): AroundStep<HostSpec> => ({
      describe: (t) => `${verb} ${t.name}`,
      timeoutSec: 5,
      failureHint: 'look at the pods',
      apply: async (_channel, t, on) => {
        if (t.name === 'n2' && verb === 'drain') throw new Error('pods still on node n2 after 5 s: a/b');
        done.push(`${on.name} ${verb} ${t.name}`);
      },
    });
    const report = await run(cluster, batches(1, { before: byController('drain'), after: byController('uncordon') }));

    expect(done).toEqual(['n1 drain n1', 'n1 uncordon n1']);
    expect(cluster.takeEvents()).toEqual(['n1 restart node', 'n1 ready node']);
    const n2 = report.results.find((r) => r.host === 'n2')!;
    expect(n2.error?.format()).toBe('n2: could not drain n2 (by the controller, through n1): pods still on node n2 after 5 s: a/b\n  fix: look at the pods');
    expect(cluster.host('n2').read(CONF)).toBe('v=1\n');
  });

  it('groups hosts in order, `size` to a group', () => {
    expect(inBatches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(inBatches([1, 2], 0)).toEqual([[1], [2]]);
  });
});
