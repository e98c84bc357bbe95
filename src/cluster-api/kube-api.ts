import { request } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { ClusterApiError } from '../errors.js';
import { tlsOver, type ClientIdentity, type OpenChannel } from './tls-channel.js';

/** Where an API server is, as the host that carries the requests sees it (`https://127.0.0.1:6443`). */
export interface ApiEndpoint {
  /** The host whose SSH connection carries the requests (for errors). */
  host: string;
  address: string;
  port: number;
}

/** How long one request may take, the TLS handshake included, before it fails. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The API server's REST API, spoken by the controller through a host's forwarded channel with a
 * client certificate of the cluster's PKI, instead of kubectl on that host: no process starts there.
 * Round trips per request: one channel open, the TLS handshake, the request.
 */
export class KubeApi {
  constructor(
    private readonly open: OpenChannel,
    private readonly endpoint: ApiEndpoint,
    private readonly identity: ClientIdentity,
  ) {}

  /** The object at `path`, read through `schema`; undefined when the API server says it does not exist (404). */
  async get<T>(path: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const { status, body } = await this.request('GET', path);
    if (status === 404) return undefined;
    if (status !== 200) throw this.error(`GET ${path}`, `answered ${status}: ${gist(body)}`);
    const parsed = schema.safeParse(parseJson(body));
    if (!parsed.success) throw this.error(`GET ${path}`, `answered with an object kubestrap cannot read: ${parsed.error.issues[0]?.message ?? 'not JSON'}`);
    return parsed.data;
  }

  private async request(method: string, path: string): Promise<{ status: number; body: string }> {
    const what = `${method} ${path}`;
    let socket: TLSSocket;
    try {
      socket = await tlsOver(await this.open(this.endpoint.address, this.endpoint.port), this.identity, this.endpoint.address);
    } catch (err) {
      throw this.error(what, `no TLS connection to the API server: ${(err as Error).message}`);
    }
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          path,
          host: this.endpoint.address,
          port: this.endpoint.port,
          headers: { accept: 'application/json', connection: 'close' },
          createConnection: () => socket,
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            socket.destroy();
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (err) => reject(this.error(what, err.message)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) => {
        socket.destroy();
        reject(this.error(what, err.message));
      });
      req.end();
    });
  }

  private error(what: string, message: string): ClusterApiError {
    const { host, address, port } = this.endpoint;
    return new ClusterApiError(
      host,
      `API server ${address}:${port} ${what}`,
      message,
      `check that the API server runs on ${host} (journalctl -u kube-apiserver) and that the local PKI is the cluster's`,
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API server's own message (a Status object's), else the body's first line. */
function gist(body: string): string {
  const status = parseJson(body) as { message?: unknown } | undefined;
  if (status && typeof status.message === 'string') return status.message;
  return body.trim().split('\n')[0]?.slice(0, 200) || 'no body';
}
