import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SshError } from '../../src/errors.js';
import { formatKnownHostsLine } from '../../src/ssh/known-hosts.js';
import { clientKeyFile, keyPair, pool, target, tempDir } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/** A TCP connection opened by the host, carried in its pooled SSH connection (what `bootstrap tunnel` uses), over a real SSH server. */
let server: TestServer | undefined;
let echo: Server | undefined;
afterEach(async () => {
  await server?.stop();
  await new Promise((resolve) => (echo ? echo.close(resolve) : resolve(undefined)));
  server = echo = undefined;
});

async function setUp(): Promise<{ forwardOut: (port: number) => Promise<Duplex>; connectThen: () => Promise<unknown>; s: TestServer }> {
  const dir = await tempDir();
  const hostKey = keyPair('ed25519');
  const key = await clientKeyFile(dir);
  const knownHostsFile = path.join(dir, 'known_hosts');
  const s = await startTestServer({ hostKeys: [hostKey.private], users: { root: { publicKey: key.pair.public } } });
  server = s;
  await writeFile(knownHostsFile, `${formatKnownHostsLine('127.0.0.1', s.port, hostKey.blob)}\n`);
  const { pool: p } = pool({ knownHostsFile });
  const t = target(s.port, { auth: { keyFile: key.file } });
  return { forwardOut: (port) => p.forwardOut(t, '127.0.0.1', port), connectThen: () => p.connect(t), s };
}

async function echoServer(): Promise<number> {
  echo = createServer((c) => c.pipe(c));
  await new Promise<void>((resolve) => echo!.listen(0, '127.0.0.1', resolve));
  return (echo.address() as AddressInfo).port;
}

describe('forwardOut', () => {
  it("carries bytes both ways to a port the host reaches, on the host's one pooled connection", async () => {
    const { forwardOut, connectThen, s } = await setUp();
    const port = await echoServer();
    for (const text of ['one', 'two']) {
      const channel = await forwardOut(port);
      channel.end(text);
      const chunks: Buffer[] = [];
      for await (const c of channel) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe(text);
    }
    await connectThen();
    expect([s.connections, s.tunnels]).toEqual([1, 2]);
  });

  it('says when the host cannot open the port, and how to look', async () => {
    const { forwardOut } = await setUp();
    const port = await echoServer();
    await new Promise((resolve) => echo!.close(resolve));
    echo = undefined;
    const err = await forwardOut(port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as SshError).format()).toMatch(
      new RegExp(
        `^node1 \\[exec\\]: the host could not open 127\\.0\\.0\\.1:${port}: .*\\n  fix: check that something listens on 127\\.0\\.0\\.1:${port} on node1 and that its sshd allows TCP forwarding`,
      ),
    );
  });
});
