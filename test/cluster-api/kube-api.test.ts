import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubeApiOn } from '../../src/cluster-api/cluster-apis.js';
import { NodeListSchema, readyStatus } from '../../src/cluster-api/kube-objects.js';
import type { OpenChannel } from '../../src/cluster-api/tls-channel.js';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { ClusterApiError } from '../../src/errors.js';
import { clientIdentity } from '../../src/pki/client-identities.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { answer, useApiServer, type SeenRequest } from '../support/api-server.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const NODES = {
  kind: 'NodeList',
  items: [
    { metadata: { name: 'm1', labels: { a: 'b' } }, spec: { podCIDR: '10.244.0.0/24' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    { metadata: { name: 'w1' }, status: { conditions: [{ type: 'MemoryPressure', status: 'False' }] } },
  ],
};

/** An API server stand-in on this machine (support/api-server.ts), with the cluster's own serving certificate. */
describe('KubeApi over a channel', () => {
  const tmp = useTempDir();
  const serve = useApiServer(tmp);
  const admin = (spec: ClusterSpec, channel: OpenChannel) => kubeApiOn(spec, spec.hosts[0]!, channel, clientIdentity(spec, 'kubeAdmin'));
  const line = (r: SeenRequest) => `${r.user} ${r.method} ${r.url}`;

  it('reads typed objects as the cluster admin, verified against the cluster CA', async () => {
    const { spec, channel, seen } = await serve((req, res) => (req.url === '/api/v1/nodes' ? answer(res, 200, NODES) : answer(res, 404, {})));
    const list = await admin(spec, channel).get('/api/v1/nodes', NodeListSchema);
    expect(list?.items.map((n) => [n.metadata.name, readyStatus(n), n.spec.taints])).toEqual([
      ['m1', 'True', []],
      ['w1', 'Unknown', []],
    ]);
    expect(seen.map(line)).toEqual(['kubestrap-admin GET /api/v1/nodes']);
  });

  it('reads an object that is not there as undefined, and any other refusal as an error naming the host and request', async () => {
    const { spec, channel } = await serve((req, res) =>
      req.url === '/api/v1/secret' ? answer(res, 403, { kind: 'Status', message: 'forbidden: no' }) : answer(res, 404, { kind: 'Status', message: 'not found' }),
    );
    const api = admin(spec, channel);
    expect(await api.get('/api/v1/namespaces/x', NodeListSchema)).toBeUndefined();
    const err = await api.get('/api/v1/secret', NodeListSchema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterApiError);
    expect((err as ClusterApiError).format()).toMatch(/^m1 API server 127\.0\.0\.1:\d+ GET \/api\/v1\/secret: answered 403: forbidden: no\n {2}fix: check that the API server runs on m1/);
  });

  it('writes as field manager kubestrap: create (false when it exists), replace, each patch type with its content type, delete', async () => {
    const { spec, channel, seen } = await serve((req, res) => {
      if (req.method === 'POST') return answer(res, req.body.includes('"b"') ? 409 : 201, {});
      if (req.method === 'DELETE') return answer(res, req.url.endsWith('/gone') ? 404 : 200, {});
      answer(res, 200, {});
    });
    const api = admin(spec, channel);
    expect(await api.create('/api/v1/namespaces', { metadata: { name: 'a' } })).toBe(true);
    expect(await api.create('/api/v1/namespaces', { metadata: { name: 'b' } })).toBe(false);
    await api.replace('/api/v1/namespaces/a', { metadata: { name: 'a', resourceVersion: '7' } });
    await api.patch('/api/v1/nodes/m1', 'merge', { metadata: { labels: { x: '' } } });
    await api.patch('/api/v1/nodes/m1', 'strategic', { spec: { taints: [] } });
    await api.patch('/api/v1/namespaces/a', 'apply', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } });
    expect(await api.delete('/api/v1/namespaces/a')).toBe(true);
    expect(await api.delete('/api/v1/namespaces/gone')).toBe(false);
    expect(seen.map((r) => `${r.method} ${r.url} ${r.type ?? '-'}`)).toEqual([
      'POST /api/v1/namespaces?fieldManager=kubestrap application/json',
      'POST /api/v1/namespaces?fieldManager=kubestrap application/json',
      'PUT /api/v1/namespaces/a?fieldManager=kubestrap application/json',
      'PATCH /api/v1/nodes/m1?fieldManager=kubestrap application/merge-patch+json',
      'PATCH /api/v1/nodes/m1?fieldManager=kubestrap application/strategic-merge-patch+json',
      'PATCH /api/v1/namespaces/a?fieldManager=kubestrap&force=true application/apply-patch+yaml',
      'DELETE /api/v1/namespaces/a -',
      'DELETE /api/v1/namespaces/gone -',
    ]);
    expect(JSON.parse(seen[5]!.body)).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } });
  });

  it('evicts through policy/v1 Eviction: a budget that holds the pod says why (429), a pod gone is evicted, a terminating namespace deletes it', async () => {
    const { spec, channel, seen } = await serve((req, res) => {
      if (req.url.includes('/held/')) {
        return answer(res, 429, {
          kind: 'Status',
          code: 429,
          message: "Cannot evict pod as it would violate the pod's disruption budget.",
          details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] },
        });
      }
      if (req.url.includes('/gone/')) return answer(res, 404, { kind: 'Status', code: 404, message: 'not found' });
      if (req.url.startsWith('/api/v1/namespaces/ending/') && req.method === 'POST') {
        return answer(res, 403, { kind: 'Status', code: 403, message: 'forbidden', details: { causes: [{ reason: 'NamespaceTerminating' }] } });
      }
      answer(res, req.method === 'POST' ? 201 : 200, { kind: 'Status', status: 'Success' });
    });
    const api = admin(spec, channel);
    expect(await api.evict('a', 'web')).toEqual({});
    expect(await api.evict('a', 'held')).toEqual({ held: "Cannot evict pod as it would violate the pod's disruption budget. (The disruption budget web needs 2 healthy pods and has 2 currently)" });
    expect(await api.evict('a', 'gone')).toEqual({});
    expect(await api.evict('ending', 'web')).toEqual({});
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /api/v1/namespaces/a/pods/web/eviction',
      'POST /api/v1/namespaces/a/pods/held/eviction',
      'POST /api/v1/namespaces/a/pods/gone/eviction',
      'POST /api/v1/namespaces/ending/pods/web/eviction',
      'DELETE /api/v1/namespaces/ending/pods/web',
    ]);
    expect(JSON.parse(seen[0]!.body)).toEqual({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web', namespace: 'a' } });
  });

  it("fails a write the API server refuses with its message, and reads a text endpoint's answer whatever its status", async () => {
    const { spec, channel } = await serve((req, res) =>
      req.url === '/readyz' ? answer(res, 500, '[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed') : answer(res, 422, { kind: 'Status', message: 'Node "m1" is invalid' }),
    );
    const api = admin(spec, channel);
    const err = (await api.patch('/api/v1/nodes/m1', 'merge', {}).catch((e: unknown) => e)) as ClusterApiError;
    expect(err.format()).toMatch(/^m1 API server 127\.0\.0\.1:\d+ PATCH \/api\/v1\/nodes\/m1: answered 422: Node "m1" is invalid\n/);
    expect(await api.text('/readyz')).toEqual({ status: 500, body: '[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed' });
  });

  it('refuses a server whose certificate the cluster CA did not sign', async () => {
    const { spec, channel } = await serve((_req, res) => answer(res, 200, NODES));
    const elsewhere = join(tmp(), 'other');
    mkdirSync(elsewhere);
    const other = clusterFrom(elsewhere, '');
    await (await reconcilePki(other, localPkiStore(other), { now: new Date() })).persist();
    const api = kubeApiOn(spec, spec.hosts[0]!, channel, clientIdentity(other, 'kubeAdmin'));
    await expect(api.get('/api/v1/nodes', NodeListSchema)).rejects.toThrow(/no TLS connection to the API server: .*(self-signed|unable to verify|certificate)/);
  });
});
