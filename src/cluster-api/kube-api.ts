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

/** What the API server answered: its status code and body as text. */
export interface Answer {
  status: number;
  body: string;
}

/**
 * How a PATCH body is read (https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply):
 * `merge` JSON merge patch (RFC 7386), `strategic` Kubernetes' strategic merge patch (lists merged
 * by their keys), `apply` server-side apply (the whole wanted object, owned by a field manager).
 */
export type PatchType = 'merge' | 'strategic' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** What kubestrap's requests call themselves (the User-Agent header). */
export const USER_AGENT = 'kubestrap';

/** The field manager kubestrap's writes are recorded under (an object's managedFields). */
export const FIELD_MANAGER = 'kubestrap';

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
    const answer = await this.request('GET', path);
    if (answer.status === 404) return undefined;
    return this.read(`GET ${path}`, this.expect(`GET ${path}`, answer, [200]), schema);
  }

  /** A plain-text endpoint (`/readyz`): its answer whatever the status, for the caller to judge. */
  text(path: string): Promise<Answer> {
    return this.request('GET', path, undefined, 'text/plain');
  }

  /** Creates `object` in the collection at `path`; false when an object of its name is already there (409 AlreadyExists). */
  async create(path: string, object: unknown): Promise<boolean> {
    const answer = await this.request('POST', `${path}?fieldManager=${FIELD_MANAGER}`, { type: 'application/json', text: JSON.stringify(object) });
    if (answer.status === 409) return false;
    this.expect(`POST ${path}`, answer, [200, 201, 202]);
    return true;
  }

  /**
   * Writes `object` back whole at `path` (PUT): its resourceVersion, if it holds one, must still be
   * the stored one. `conflictIsDone`: a conflict (409, written by someone else since it was read)
   * is no failure, for a caller that only needs the object written once more, by anyone.
   */
  async replace(path: string, object: unknown, opts: { conflictIsDone?: boolean } = {}): Promise<void> {
    const answer = await this.request('PUT', `${path}?fieldManager=${FIELD_MANAGER}`, { type: 'application/json', text: JSON.stringify(object) });
    if (answer.status === 409 && opts.conflictIsDone) return;
    this.expect(`PUT ${path}`, answer, [200, 201]);
  }

  /**
   * Patches the object at `path`. Server-side apply creates it when missing and takes its fields
   * over from other managers (force): kubestrap owns what it applies, as `kubectl apply
   * --server-side --force-conflicts` would.
   */
  async patch(path: string, type: PatchType, patch: unknown): Promise<void> {
    const query = type === 'apply' ? `fieldManager=${FIELD_MANAGER}&force=true` : `fieldManager=${FIELD_MANAGER}`;
    // JSON is YAML: the apply body needs no YAML writer.
    const answer = await this.request('PATCH', `${path}?${query}`, { type: PATCH_CONTENT_TYPES[type], text: JSON.stringify(patch) });
    this.expect(`PATCH ${path}`, answer, [200, 201]);
  }

  /** Deletes the object at `path`; false when it was not there. */
  async delete(path: string): Promise<boolean> {
    const answer = await this.request('DELETE', path);
    if (answer.status === 404) return false;
    this.expect(`DELETE ${path}`, answer, [200, 202]);
    return true;
  }

  /**
   * Asks the API server to evict a pod (policy/v1 Eviction, the pods/eviction subresource), which
   * deletes it unless a PodDisruptionBudget forbids it now: `held` with the budget's words (429; ask
   * again later). A pod already gone counts as evicted. In a namespace being deleted the eviction
   * is forbidden and the pod is deleted instead, as kubectl drain does.
   */
  async evict(namespace: string, name: string): Promise<{ held?: string }> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
    const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } };
    const answer = await this.request('POST', `${path}/eviction`, { type: 'application/json', text: JSON.stringify(eviction) });
    if (answer.status === 429) return { held: gist(answer.body, true) };
    if (answer.status === 404) return {};
    if (answer.status === 403 && causes(answer.body).some((c) => c.reason === 'NamespaceTerminating')) {
      await this.delete(path);
      return {};
    }
    this.expect(`POST ${path}/eviction`, answer, [200, 201]);
    return {};
  }

  private read<T>(what: string, body: string, schema: z.ZodType<T>): T {
    const parsed = schema.safeParse(parseJson(body));
    if (!parsed.success) throw this.error(what, `answered with an object kubestrap cannot read: ${parsed.error.issues[0]?.message ?? 'not JSON'}`);
    return parsed.data;
  }

  /** The answer's body when its status is one of `ok`; else an error with the API server's own message. */
  private expect(what: string, answer: Answer, ok: readonly number[]): string {
    if (!ok.includes(answer.status)) throw this.error(what, `answered ${answer.status}: ${gist(answer.body)}`);
    return answer.body;
  }

  private async request(method: string, path: string, body?: { type: string; text: string }, accept = 'application/json'): Promise<Answer> {
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
          // Named in the API server's audit log (userAgent), as kubectl names itself there.
          headers: { accept, connection: 'close', 'user-agent': USER_AGENT, ...(body ? { 'content-type': body.type, 'content-length': Buffer.byteLength(body.text) } : {}) },
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
      req.end(body?.text);
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

/** The causes a Status object gives (details.causes), each with its reason and message. */
function causes(body: string): Array<{ reason?: string; message?: string }> {
  const status = parseJson(body) as { details?: { causes?: unknown } } | undefined;
  const list = status?.details?.causes;
  return Array.isArray(list) ? (list as Array<{ reason?: string; message?: string }>) : [];
}

/** The API server's own message (a Status object's, with its causes' when asked), else the body's first line. */
function gist(body: string, withCauses = false): string {
  const status = parseJson(body) as { message?: unknown } | undefined;
  if (status && typeof status.message === 'string') {
    const why = withCauses ? causes(body).flatMap((c) => (c.message ? [c.message] : [])) : [];
    return why.length ? `${status.message} (${why.join('; ')})` : status.message;
  }
  return body.trim().split('\n')[0]?.slice(0, 200) || 'no body';
}
