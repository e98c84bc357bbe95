import { describe, expect, it } from 'vitest';
import { kubeApiOn } from '../../src/cluster-api/cluster-apis.js';
import { DrainRefused, drainNode, markedReadyNodes, uncordonWhenReady } from '../../src/cluster-api/node-drain.js';
import { clientIdentity } from '../../src/pki/client-identities.js';
import { useApiServer } from '../support/api-server.js';
import { FakeKube, type FakeNode, type FakePod } from '../support/fake-kube.js';
import { useTempDir } from '../support/tmp.js';

const MARK = 'kubestrap.io/drained';
const rs = { kind: 'ReplicaSet', name: 'web-1' };
const ds = { kind: 'DaemonSet', name: 'proxy' };

/** The drain as kubectl drain --ignore-daemonsets --delete-emptydir-data does it, against a cluster served over HTTPS with the cluster's PKI. */
describe('draining a node through the API', { timeout: 60_000 }, () => {
  const tmp = useTempDir();
  const serve = useApiServer(tmp);

  async function cluster(nodes: FakeNode[], pods: FakePod[] = [], daemonSets: string[] = []) {
    const kube = new FakeKube(nodes, pods, daemonSets);
    const { spec, channel, seen } = await serve(kube.handler);
    const api = kubeApiOn(spec, spec.hosts[0]!, channel, clientIdentity(spec, 'kubeAdmin'));
    return { kube, api, seen };
  }

  it('marks and cordons a schedulable node, evicts what a controller recreates and what finished, leaves DaemonSet and mirror pods', async () => {
    const { kube, api, seen } = await cluster(
      [{ name: 'w1' }, { name: 'w2' }],
      [
        { namespace: 'a', name: 'web-x', node: 'w1', owner: rs },
        { namespace: 'kube-system', name: 'proxy-x', node: 'w1', owner: ds },
        { namespace: 'kube-system', name: 'etcd-w1', node: 'w1', mirror: true },
        { namespace: 'a', name: 'job-done', node: 'w1', phase: 'Succeeded' },
        { namespace: 'a', name: 'web-y', node: 'w2', owner: rs },
      ],
      ['kube-system/proxy'],
    );
    expect(await drainNode(api, 'w1', { timeoutSec: 5, mark: MARK, retryMs: 10 })).toBe(true);
    expect(kube.done).toEqual([`patch node w1 ${JSON.stringify({ metadata: { annotations: { [MARK]: 'true' } }, spec: { unschedulable: true } })}`, 'evict a/web-x', 'evict a/job-done']);
    expect(kube.node('w1')).toEqual({ unschedulable: true, annotations: { [MARK]: 'true' } });
    expect(kube.pods.map((p) => p.name)).toEqual(['proxy-x', 'etcd-w1', 'web-y']);
    expect(seen.every((r) => r.user === 'kubestrap-admin')).toBe(true);
    expect(seen.some((r) => r.url === '/api/v1/pods?fieldSelector=spec.nodeName%3Dw1')).toBe(true);
  });

  it('drains a node an operator cordoned without marking it (it is theirs to uncordon), and a node not registered is nothing to drain', async () => {
    const { kube, api } = await cluster([{ name: 'w1', unschedulable: true }], [{ namespace: 'a', name: 'web-x', node: 'w1', owner: rs }]);
    expect(await drainNode(api, 'w1', { timeoutSec: 5, mark: MARK, retryMs: 10 })).toBe(true);
    expect(kube.done).toEqual(['evict a/web-x']);
    expect(await drainNode(api, 'new', { timeoutSec: 5, mark: MARK })).toBe(false);
  });

  it('asks again while a PodDisruptionBudget holds a pod, and waits until evicted pods are gone', async () => {
    const { kube, api } = await cluster([{ name: 'w1' }], [{ namespace: 'a', name: 'web-x', node: 'w1', owner: rs, heldFor: 2, stopsAfter: 2 }]);
    await drainNode(api, 'w1', { timeoutSec: 5, retryMs: 10 });
    expect(kube.done).toEqual([`patch node w1 ${JSON.stringify({ spec: { unschedulable: true } })}`, 'evict a/web-x']);
    expect(kube.pods).toEqual([]);
  });

  it('fails at the time limit naming each pod still there and why, the node left cordoned', async () => {
    const { kube, api } = await cluster(
      [{ name: 'w1' }],
      [
        { namespace: 'a', name: 'web-x', node: 'w1', owner: rs, heldFor: Number.POSITIVE_INFINITY },
        { namespace: 'a', name: 'slow', node: 'w1', owner: rs, stopsAfter: 1000 },
        { namespace: 'a', name: 'quick', node: 'w1', owner: rs },
      ],
    );
    const err = await drainNode(api, 'w1', { timeoutSec: 0.2, mark: MARK, retryMs: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrainRefused);
    expect((err as Error).message).toBe(
      "pods still on node w1 after 0.2 s: a/web-x (eviction refused: Cannot evict pod as it would violate the pod's disruption budget. (The disruption budget web needs 2 healthy pods and has 2 currently)); a/slow (evicted, still stopping)",
    );
    expect(kube.node('w1')?.unschedulable).toBe(true);
  });

  it('refuses, before any eviction, a running pod no controller would recreate and one whose DaemonSet is gone', async () => {
    const { kube, api } = await cluster(
      [{ name: 'w1' }],
      [
        { namespace: 'a', name: 'bare', node: 'w1' },
        { namespace: 'a', name: 'orphan', node: 'w1', owner: ds },
        { namespace: 'a', name: 'web-x', node: 'w1', owner: rs },
      ],
    );
    const err = await drainNode(api, 'w1', { timeoutSec: 5 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'cannot drain node w1: a/bare: declares no controller (nothing would recreate it elsewhere; delete it yourself if it may go); a/orphan: its DaemonSet proxy is gone (delete the pod yourself)',
    );
    expect(kube.done.filter((d) => d.startsWith('evict'))).toEqual([]);
  });

  it('uncordons once Ready, only a node it marked, clearing the mark and the cordon in one patch', async () => {
    const { kube, api } = await cluster([
      { name: 'w1', ready: false, unschedulable: true, annotations: { [MARK]: 'true', keep: 'me' } },
      { name: 'w2', unschedulable: true },
    ]);
    setTimeout(() => kube.setReady('w1', true), 100);
    expect(await uncordonWhenReady(api, 'w1', MARK, { timeoutSec: 5, pollMs: 20 })).toBe(true);
    expect(kube.node('w1')).toEqual({ unschedulable: false, annotations: { keep: 'me' } });
    expect(kube.done).toEqual([`patch node w1 ${JSON.stringify({ metadata: { annotations: { [MARK]: null } }, spec: { unschedulable: null } })}`]);
    expect(await uncordonWhenReady(api, 'w2', MARK, { timeoutSec: 5, pollMs: 20 })).toBe(true);
    expect(kube.node('w2')?.unschedulable).toBe(true);
    expect(await uncordonWhenReady(api, 'new', MARK, { timeoutSec: 5 })).toBe(false);
  });

  it('gives up on a node that does not come back Ready, leaving it cordoned', async () => {
    const { kube, api } = await cluster([{ name: 'w1', ready: false, unschedulable: true, annotations: { [MARK]: 'true' } }]);
    await expect(uncordonWhenReady(api, 'w1', MARK, { timeoutSec: 0.1, pollMs: 20 })).rejects.toThrow('node w1 is not Ready after 0.1 s');
    expect(kube.node('w1')?.unschedulable).toBe(true);
  });

  it('finds the Ready nodes a stopped run left marked', async () => {
    const { api } = await cluster([
      { name: 'w1', unschedulable: true, annotations: { [MARK]: 'true' } },
      { name: 'w2', ready: false, unschedulable: true, annotations: { [MARK]: 'true' } },
      { name: 'w3', unschedulable: true },
    ]);
    expect(await markedReadyNodes(api, MARK)).toEqual(['w1']);
  });
});
