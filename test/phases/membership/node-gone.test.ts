import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../../src/config/cluster-spec.js';
import { nodeGone } from '../../../src/phases/membership/node-gone.js';
import { useApiServer } from '../../support/api-server.js';
import { FakeKube } from '../../support/fake-kube.js';
import { useTempDir } from '../../support/tmp.js';

const INVENTORY = `cluster: up
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
`;

/** A leaving host's Node, drained and deleted by the controller against an API server served with the cluster's PKI (support/fake-kube.ts). */
describe("a leaving host's Node", { timeout: 60_000 }, () => {
  const tmp = useTempDir();
  const serve = useApiServer(tmp, INVENTORY);
  const web = { namespace: 'a', name: 'web', node: 'w1', owner: { kind: 'ReplicaSet', name: 'r' } };

  async function setup(kube: FakeKube, forgotten: boolean) {
    const { spec, channel } = await serve(kube.handler);
    const [m1, w1] = spec.hosts as [HostSpec, HostSpec];
    return { action: nodeGone(spec, w1, forgotten), channel, m1 };
  }

  it('is drained (its pods evicted), then deleted; once gone there is nothing to do', async () => {
    const kube = new FakeKube([{ name: 'w1' }, { name: 'm1' }], [web]);
    const { action, channel, m1 } = await setup(kube, false);
    expect(await action.query!(channel, m1, [])).toBe(false);
    await action.apply!(channel, m1, []);
    expect(kube.done).toEqual([`patch node w1 ${JSON.stringify({ spec: { unschedulable: true } })}`, 'evict a/web', 'delete node w1']);
    expect(await action.query!(channel, m1, [])).toBe(true);
  });

  it('stays, cordoned, when its pods cannot be drained: the run fails saying which and why', async () => {
    const kube = new FakeKube([{ name: 'w1' }], [{ namespace: 'a', name: 'bare', node: 'w1' }]);
    const { action, channel, m1 } = await setup(kube, false);
    await expect(action.apply!(channel, m1, [])).rejects.toThrow('cannot drain node w1: a/bare: declares no controller');
    expect(kube.node('w1')?.unschedulable).toBe(true);
    expect(action.failureHint).toContain('--field-selector spec.nodeName=w1');
  });

  it('of a forgotten host is deleted without a drain (its kubelet cannot confirm anything)', async () => {
    const kube = new FakeKube([{ name: 'w1' }], [web]);
    const { action, channel, m1 } = await setup(kube, true);
    await action.apply!(channel, m1, []);
    expect(kube.done).toEqual(['delete node w1']);
  });
});
