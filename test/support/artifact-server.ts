import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterEach } from 'vitest';

export type Route = Buffer | string | ((req: IncomingMessage, res: ServerResponse) => void);

/** A local HTTP server serving an artifact tree (path -> content or handler), with a request log. */
export interface ArtifactServer {
  url: string;
  routes: Map<string, Route>;
  requests: string[];
  close(): Promise<void>;
}

export async function startArtifactServer(routes: Record<string, Route> = {}): Promise<ArtifactServer> {
  const table = new Map(Object.entries(routes));
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const route = table.get(path);
    if (route === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    if (typeof route === 'function') return route(req, res);
    res.writeHead(200, { 'content-length': Buffer.byteLength(route) }).end(route);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    routes: table,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Servers started in a test, closed after it. */
export function useArtifactServers(): (routes?: Record<string, Route>) => Promise<ArtifactServer> {
  const started: ArtifactServer[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });
  return async (routes) => {
    const s = await startArtifactServer(routes);
    started.push(s);
    return s;
  };
}

/** Announces more bytes than it sends, then drops the connection: a transfer cut short. */
export function truncated(body: Buffer, announced: number): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': announced });
    res.write(body);
    setTimeout(() => res.socket?.destroy(), 20);
  };
}

/** Sends `body` without announcing its length (chunked), as a server streaming a file of unknown size does. */
export function chunked(body: Buffer): Route {
  return (_req, res) => {
    res.writeHead(200);
    res.end(body);
  };
}

/** A .tar.gz holding the given files (path -> content), as release tarballs are made. */
export async function tgz(files: Record<string, Buffer | string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o755 }, content);
  p.finalize();
  const gz = p.pipe(createGzip());
  const chunks: Buffer[] = [];
  for await (const c of gz) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * An HTTP proxy that logs what it forwards: CONNECT tunnels (`host:port`, how undici goes through a
 * proxy) and absolute-form requests (the URL). Every host name leads to this machine.
 */
export async function startProxy(): Promise<{ url: string; forwarded: string[]; close(): Promise<void> }> {
  const forwarded: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '');
    forwarded.push(target.toString());
    // The proxy alone knows where "artifacts.test" is: the test server on this machine.
    const port = Number(target.port);
    const upstream = httpRequest({ host: '127.0.0.1', port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    // The target may be gone mid-answer (closed first at the end of a test): never leave the client waiting.
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  // Every client connection, keep-alive ones included, so that close() ends them all and never waits on one.
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    forwarded.push(req.url ?? '');
    const port = Number((req.url ?? '').split(':').at(-1));
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forwarded,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A URL where nothing listens (a port that was free a moment ago). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
