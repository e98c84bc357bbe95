import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { kubeApiOn } from '../../src/cluster-api/cluster-apis.js';
import { NodeListSchema, readyStatus } from '../../src/cluster-api/kube-objects.js';
import type { OpenChannel } from '../../src/cluster-api/tls-channel.js';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { ClusterApiError } from '../../src/errors.js';
import { clientIdentity } from '../../src/pki/client-identities.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const NODES = {
  kind: 'NodeList',
  items: [
    { metadata: { name: 'm1', labels: { a: 'b' } }, spec: { podCIDR: '10.244.0.0/24' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    { metadata: { name: 'w1' }, status: { conditions: [{ type: 'MemoryPressure', status: 'False' }] } },
  ],
};

/**
 * An API server stand-in on this machine, serving with the cluster's own apiserver certificate and
 * asking for a client certificate of the cluster CA; the "channel" is a real TCP connection to it,
 * as the host's forwarded channel would be.
 */
describe('KubeApi over a channel', () => {
  const tmp = useTempDir();
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(): Promise<{ spec: ClusterSpec; channel: OpenChannel; seen: string[] }> {
    const spec = clusterFrom(tmp(), '');
    const pki = await reconcilePki(spec, localPkiStore(spec), { now: new Date() });
    await pki.persist();
    const apiserver = pki.items.get('apiserver')!;
    const seen: string[] = [];
    server = createServer({ key: apiserver.keyPem, cert: apiserver.certPem, ca: pki.items.get('ca')!.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      seen.push(`${(req.socket as TLSSocket).getPeerCertificate().subject.CN} ${req.method} ${req.url}`);
      if (req.url === '/api/v1/nodes') return void res.end(JSON.stringify(NODES));
      res.statusCode = req.url === '/api/v1/secret' ? 403 : 404;
      res.end(JSON.stringify({ kind: 'Status', message: req.url === '/api/v1/secret' ? 'forbidden: no' : 'not found' }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return { spec, channel: async () => connect(port, '127.0.0.1'), seen };
  }

  it('reads typed objects as the cluster admin, verified against the cluster CA', async () => {
    const { spec, channel, seen } = await serve();
    const api = kubeApiOn(spec, spec.hosts[0]!, channel, clientIdentity(spec, 'kubeAdmin'));
    const list = await api.get('/api/v1/nodes', NodeListSchema);
    expect(list?.items.map((n) => [n.metadata.name, readyStatus(n), n.spec.taints])).toEqual([
      ['m1', 'True', []],
      ['w1', 'Unknown', []],
    ]);
    expect(seen).toEqual(['kubestrap-admin GET /api/v1/nodes']);
  });

  it('reads an object that is not there as undefined, and any other refusal as an error naming the host and request', async () => {
    const { spec, channel } = await serve();
    const api = kubeApiOn(spec, spec.hosts[0]!, channel, clientIdentity(spec, 'kubeAdmin'));
    expect(await api.get('/api/v1/namespaces/x', NodeListSchema)).toBeUndefined();
    const err = await api.get('/api/v1/secret', NodeListSchema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterApiError);
    expect((err as ClusterApiError).format()).toMatch(/^m1 API server 127\.0\.0\.1:\d+ GET \/api\/v1\/secret: answered 403: forbidden: no\n {2}fix: check that the API server runs on m1/);
  });

  it('refuses a server whose certificate the cluster CA did not sign', async () => {
    const { spec, channel } = await serve();
    const elsewhere = join(tmp(), 'other');
    mkdirSync(elsewhere);
    const other = clusterFrom(elsewhere, '');
    await (await reconcilePki(other, localPkiStore(other), { now: new Date() })).persist();
    const api = kubeApiOn(spec, spec.hosts[0]!, channel, clientIdentity(other, 'kubeAdmin'));
    await expect(api.get('/api/v1/nodes', NodeListSchema)).rejects.toThrow(/no TLS connection to the API server: .*(self-signed|unable to verify|certificate)/);
  });
});
