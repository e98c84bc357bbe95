import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach } from 'vitest';
import type { OpenChannel } from '../../src/cluster-api/tls-channel.js';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { clusterFrom } from './cluster.js';

/** One request as the server saw it: the client certificate's CN, method, URL, content type and body. */
export interface SeenRequest {
  user: string;
  method: string;
  url: string;
  type: string | undefined;
  body: string;
}

export type ApiHandler = (req: SeenRequest, res: ServerResponse<IncomingMessage>) => void;

/**
 * An HTTPS server on this machine in the place of a host's API server: it serves with the cluster's
 * own apiserver certificate and asks for a client certificate of the cluster CA; the "channel" is a
 * real TCP connection to it, as the host's forwarded channel would be. Closed after each test.
 */
export function useApiServer(tmp: () => string, inventory?: string): (handler: ApiHandler, config?: string) => Promise<{ spec: ClusterSpec; channel: OpenChannel; seen: SeenRequest[] }> {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));
  return async (handler, config = '') => {
    const spec = clusterFrom(tmp(), config, inventory);
    const pki = await reconcilePki(spec, localPkiStore(spec), { now: new Date() });
    await pki.persist();
    const apiserver = pki.items.get('apiserver')!;
    const seen: SeenRequest[] = [];
    server = createServer({ key: apiserver.keyPem, cert: apiserver.certPem, ca: pki.items.get('ca')!.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const request: SeenRequest = {
          user: String((req.socket as TLSSocket).getPeerCertificate().subject.CN),
          method: req.method ?? '',
          url: req.url ?? '',
          type: req.headers['content-type'],
          body: Buffer.concat(chunks).toString('utf8'),
        };
        seen.push(request);
        handler(request, res);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return { spec, channel: async () => connect(port, '127.0.0.1'), seen };
  };
}

/** Answers with `status` and `body` as JSON. */
export function answer(res: ServerResponse<IncomingMessage>, status: number, body: unknown): void {
  res.statusCode = status;
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
