import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openTunnel, type OpenTunnel } from '../../src/tunnel/api-tunnel.js';

/**
 * The tunnel with real TCP on both sides: each "master" is a local server that answers with its
 * name and echoes, reached by a plain TCP connection where the product opens an SSH channel (the
 * e2e test runs it over the lab's SSH: test/e2e/kubeconfig.test.ts).
 */
interface Master {
  name: string;
  server: Server;
  port: number;
}

const servers: Server[] = [];
const tunnels: OpenTunnel[] = [];
afterEach(async () => {
  for (const t of tunnels.splice(0)) await t.close();
  for (const s of servers.splice(0)) if (s.listening) await closeServer(s);
});

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

async function master(name: string): Promise<Master> {
  const server = createServer((s) => {
    // The tunnel's check before listening drops its connection at once.
    s.on('error', () => undefined);
    s.write(`${name}:`);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { name, server, port: (server.address() as { port: number }).port };
}

/** The product's `open`: a connection to the master's port, as a channel would be; a stopped master refuses. */
function opener(masters: Master[], calls: string[] = []) {
  return (name: string): Promise<Duplex> => {
    calls.push(name);
    const m = masters.find((x) => x.name === name)!;
    return new Promise((resolve, reject) => {
      const s = connect(m.port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  };
}

async function exchange(port: number, text: string): Promise<string> {
  const s: Socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => {
    chunks.push(c);
    if (Buffer.concat(chunks).toString().endsWith(text)) s.end();
  });
  s.write(text);
  await new Promise((resolve) => s.once('close', resolve));
  return Buffer.concat(chunks).toString();
}

async function tunnel(masters: Master[], calls?: string[], failed?: string[]): Promise<OpenTunnel> {
  const t = await openTunnel({ port: 0, masters: masters.map((m) => m.name), open: opener(masters, calls), onMasterFailed: (name) => failed?.push(name) });
  tunnels.push(t);
  return t;
}

describe('bootstrap tunnel', () => {
  it('listens on loopback only and carries bytes both ways, one channel per connection', async () => {
    const m1 = await master('m1');
    const calls: string[] = [];
    const t = await tunnel([m1], calls);
    expect(t.address).toBe('127.0.0.1');
    expect(await exchange(t.port, 'hello')).toBe('m1:hello');
    expect(await exchange(t.port, 'again')).toBe('m1:again');
    // The check before listening, then one per connection.
    expect(calls).toEqual(['m1', 'm1', 'm1']);
  });

  it('a client that has sent all it will (FIN) still gets the whole answer', async () => {
    const m1 = await master('m1');
    const t = await tunnel([m1]);
    const s = connect(t.port, '127.0.0.1');
    s.end('last words');
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('m1:last words');
  });

  it('goes through the first master that answers, and moves on when that one stops', async () => {
    const m1 = await master('m1');
    const m2 = await master('m2');
    const m3 = await master('m3');
    await closeServer(m1.server);
    const failed: string[] = [];
    const t = await tunnel([m1, m2, m3], [], failed);
    expect(t.master()).toBe('m2');
    expect(failed).toEqual(['m1']);
    expect(await exchange(t.port, 'x')).toBe('m2:x');
    await closeServer(m2.server);
    expect(await exchange(t.port, 'y')).toBe('m3:y');
    expect(t.master()).toBe('m3');
    expect(failed).toEqual(['m1', 'm2']);
  });

  it('does not listen when no master reaches its API server, with the last error', async () => {
    const m1 = await master('m1');
    await closeServer(m1.server);
    await expect(openTunnel({ port: 0, masters: ['m1'], open: opener([m1]) })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses a port that is taken (EADDRINUSE, for the command to explain)', async () => {
    const m1 = await master('m1');
    const t = await tunnel([m1]);
    await expect(openTunnel({ port: t.port, masters: ['m1'], open: opener([m1]) })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('close ends the connections it carries and frees the port', async () => {
    const m1 = await master('m1');
    const t = await openTunnel({ port: 0, masters: ['m1'], open: opener([m1]) });
    const s = connect(t.port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((resolve) => s.once('data', resolve));
    const closed = new Promise((resolve) => s.once('close', resolve));
    await t.close();
    await closed;
    const again = await openTunnel({ port: t.port, masters: ['m1'], open: opener([m1]) });
    tunnels.push(again);
    expect(again.port).toBe(t.port);
  });
});
