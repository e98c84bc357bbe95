import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import { parseFacts } from '../../src/engine/facts.js';
import { parsePhaseRecords, phaseRecordLine } from '../../src/engine/host-record.js';
import type { ClusterContext } from '../../src/phases/context.js';
import { DRAINED_ANNOTATION, leftCordonedAction, nodeBatches } from '../../src/phases/node-drain.js';
import { useApiServer } from '../support/api-server.js';
import { FakeKube, type FakeNode, type FakePod } from '../support/fake-kube.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: up
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
`;

/**
 * The drain and uncordon steps and the left-drained action, done by the controller against an API
 * server served over HTTPS with the cluster's PKI (support/fake-kube.ts keeps the nodes and pods):
 * what they change is what the cluster records.
 */
describe('draining a node around its restarts', { timeout: 60_000 }, () => {
  const tmp = useTempDir();
  const serve = useApiServer(tmp, INVENTORY);

  async function setup(nodes: FakeNode[], pods: FakePod[] = []) {
    const kube = new FakeKube(nodes, pods);
    const { spec, channel, seen } = await serve(kube.handler);
    const ctx = { spec, mode: 'apply', hosts: spec.hosts.map((host) => ({ host, facts: undefined as never, os: undefined as never, files: [] })) } as ClusterContext;
    const [m1, w1] = spec.hosts as [HostSpec, HostSpec];
    return { kube, seen, channel, batches: nodeBatches(ctx, 2), action: leftCordonedAction(ctx), m1, w1 };
  }

  it('runs on the masters, as many nodes at once as asked, by the controller', async () => {
    const { batches } = await setup([]);
    expect([batches.size, batches.candidates, batches.before.script, batches.after.script]).toEqual([2, ['m1'], undefined, undefined]);
  });

  it('drains only nodes an earlier run made and that keep the worker role', async () => {
    const { batches, m1, w1 } = await setup([]);
    const made = { ...parseFacts(''), record: parsePhaseRecords(phaseRecordLine('workers', [], {}, {})) };
    expect(batches.serving(w1, made)).toBe(true);
    expect(batches.serving(w1, parseFacts(''))).toBe(false);
    expect(batches.serving(m1, made)).toBe(false);
  });

  it("marks a schedulable node as kubestrap's and drains it through evictions; once Ready, uncordons it and removes the mark", async () => {
    const { kube, batches, channel, m1, w1, seen } = await setup([{ name: 'w1' }], [{ namespace: 'a', name: 'web', node: 'w1', owner: { kind: 'ReplicaSet', name: 'r' } }]);
    await batches.before.apply!(channel, w1, m1);
    expect(kube.node('w1')).toEqual({ unschedulable: true, annotations: { [DRAINED_ANNOTATION]: 'true' } });
    expect(kube.done.slice(1)).toEqual(['evict a/web']);
    await batches.after.apply!(channel, w1, m1);
    expect(kube.node('w1')).toEqual({ unschedulable: false, annotations: {} });
    expect(seen.every((r) => r.user === 'kubestrap-admin')).toBe(true);
  });

  it('drains a node an operator cordoned without marking it, so it stays cordoned after', async () => {
    const { kube, batches, channel, m1, w1 } = await setup([{ name: 'w1', unschedulable: true }]);
    await batches.before.apply!(channel, w1, m1);
    await batches.after.apply!(channel, w1, m1);
    expect(kube.node('w1')).toEqual({ unschedulable: true, annotations: {} });
    expect(kube.done).toEqual([]);
  });

  it('has nothing to drain or uncordon on a node not registered yet', async () => {
    const { kube, batches, channel, m1, w1 } = await setup([]);
    await batches.before.apply!(channel, w1, m1);
    await batches.after.apply!(channel, w1, m1);
    expect(kube.done).toEqual([]);
  });

  it('uncordons, after a stopped run, the Ready nodes still marked, and only those; nothing to do without', async () => {
    const marked = { [DRAINED_ANNOTATION]: 'true' };
    const { kube, action, channel, m1 } = await setup([
      { name: 'w1', unschedulable: true, annotations: marked },
      { name: 'w2', unschedulable: true, annotations: marked, ready: false },
      { name: 'w3', unschedulable: true },
    ]);
    expect(await action.query!(channel, m1, [])).toBe(false);
    await action.apply!(channel, m1, []);
    expect([kube.node('w1'), kube.node('w2'), kube.node('w3')].map((n) => n?.unschedulable)).toEqual([false, true, true]);
    expect(await action.query!(channel, m1, [])).toBe(true);
  });

  it('finds nothing to put back where the API server does not answer yet (a new cluster)', async () => {
    const { action, m1 } = await setup([]);
    expect(await action.query!(() => Promise.reject(new Error('connection refused')), m1, [])).toBe(true);
  });
});
