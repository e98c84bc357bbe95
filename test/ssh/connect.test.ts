import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SshError } from '../../src/errors.js';
import { formatKnownHostsLine } from '../../src/ssh/known-hosts.js';
import { clientKeyFile, keyPair, pool, target, tempDir, type KeyPair } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/** Connecting: credentials, clear auth errors, and which failures are retried. */

let dir: string;
let knownHosts: string;
let hostKey: KeyPair;
let server: TestServer | undefined;

beforeEach(async () => {
  dir = await tempDir();
  knownHosts = path.join(dir, 'known_hosts');
  hostKey = keyPair('ed25519');
});
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function serveWithKnownKey(users: Parameters<typeof startTestServer>[0]['users']): Promise<TestServer> {
  server = await startTestServer({ hostKeys: [hostKey.private], users });
  await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', server.port, hostKey.blob)}\n`);
  return server;
}

async function failure(p: Promise<unknown>): Promise<SshError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SshError);
  return err as SshError;
}

/** A port with nobody listening. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('auth', () => {
  it('logs in with a key file', async () => {
    const key = await clientKeyFile(dir);
    const s = await serveWithKnownKey({ root: { publicKey: key.pair.public } });
    const host = await pool({ knownHostsFile: knownHosts }).pool.connect(target(s.port, { auth: { keyFile: key.file } }));
    expect(host.stats.handshakes).toBe(1);
    expect((await host.run('echo in')).stdout).toBe('in\n');
  });

  it('logs in with an encrypted key and its passphrase from an env var', async () => {
    const key = await clientKeyFile(dir, 'key-pass-123');
    const s = await serveWithKnownKey({ root: { publicKey: key.pair.public } });
    process.env.KS_TEST_PASSPHRASE = 'key-pass-123';
    const host = await pool({ knownHostsFile: knownHosts }).pool.connect(target(s.port, { auth: { keyFile: key.file, passphraseEnv: 'KS_TEST_PASSPHRASE' } }));
    expect((await host.run('echo in')).code).toBe(0);
  });

  it('says clearly when the key file is missing, encrypted without passphrase, or the passphrase is wrong', async () => {
    const key = await clientKeyFile(dir, 'right');
    const s = await serveWithKnownKey({ root: { publicKey: key.pair.public } });
    const p = pool({ knownHostsFile: knownHosts }).pool;

    const missing = await failure(p.connect(target(s.port, { auth: { keyFile: path.join(dir, 'nope') } })));
    expect([missing.stage, missing.message]).toEqual(['auth', `private key ${path.join(dir, 'nope')} does not exist`]);

    const noPass = await failure(p.connect(target(s.port, { auth: { keyFile: key.file } })));
    expect(noPass.message).toContain('is encrypted and no passphrase was given');
    expect(noPass.hint).toContain('passphraseEnv');

    process.env.KS_TEST_WRONG = 'wrong-value-xyz';
    const wrong = await failure(p.connect(target(s.port, { auth: { keyFile: key.file, passphraseEnv: 'KS_TEST_WRONG' } })));
    expect(wrong.message).toBe(`wrong passphrase for private key ${key.file}`);
    expect(wrong.hint).toContain('KS_TEST_WRONG');
    expect(wrong.format()).not.toContain('wrong-value-xyz');
    // None of these touched the network.
    expect(s.connections).toBe(0);
  });

  it('names an unset env var (never a value)', async () => {
    const s = await serveWithKnownKey({ root: { password: 'x' } });
    delete process.env.KS_TEST_UNSET;
    const err = await failure(pool({ knownHostsFile: knownHosts }).pool.connect(target(s.port, { auth: { passwordEnv: 'KS_TEST_UNSET' } })));
    expect(err.stage).toBe('auth');
    expect(err.message).toContain('KS_TEST_UNSET');
    expect(err.message).toContain('not set');
  });

  it('reports a rejected login as an auth error naming the user and the methods tried, and does not retry it', async () => {
    const key = await clientKeyFile(dir);
    const s = await serveWithKnownKey({ deploy: { publicKey: keyPair('ed25519').public } });
    process.env.KS_TEST_BADPW = 'not-the-password';
    const started = Date.now();
    const err = await failure(pool({ knownHostsFile: knownHosts, connectAttempts: 3 }).pool.connect(target(s.port, { user: 'deploy', auth: { keyFile: key.file, passwordEnv: 'KS_TEST_BADPW' } })));
    expect(err.stage).toBe('auth');
    expect(err.message).toContain('user deploy');
    expect(err.message).toContain(`tried: publickey (${key.file}), password`);
    expect(err.format()).not.toContain('not-the-password');
    // One connection, one try per method: no retry, no backoff.
    expect(s.connections).toBe(1);
    expect(s.authAttempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('logs in with a password from an env var', async () => {
    const s = await serveWithKnownKey({ ops: { password: 'pw-from-env', sudo: 'nopasswd' } });
    process.env.KS_TEST_PW = 'pw-from-env';
    const host = await pool({ knownHostsFile: knownHosts }).pool.connect(target(s.port, { user: 'ops', auth: { passwordEnv: 'KS_TEST_PW' } }));
    expect((await host.run('echo pw')).stdout).toBe('pw\n');
  });
});

describe('retries', () => {
  it('retries a refused connection connectAttempts times with backoff, then fails with stage connect', async () => {
    const port = await deadPort();
    const { pool: p, events } = pool({ knownHostsFile: knownHosts, connectAttempts: 3 });
    const started = Date.now();
    const err = await failure(p.connect(target(port, { auth: { passwordEnv: 'KS_TEST_PW' } })));
    expect(err.stage).toBe('connect');
    expect(err.message).toContain('ECONNREFUSED');
    expect(events.filter((e) => e.kind === 'connect')).toHaveLength(3);
    expect(events.filter((e) => e.kind === 'retry')).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250 + 500);
  });

  it('retries a server that drops the connection before the handshake, counting attempts server-side', async () => {
    let accepted = 0;
    const dropper: Server = createServer((sock) => {
      accepted++;
      sock.destroy();
    });
    await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
    try {
      const port = (dropper.address() as AddressInfo).port;
      process.env.KS_TEST_PW = 'x';
      const err = await failure(pool({ knownHostsFile: knownHosts, connectAttempts: 3 }).pool.connect(target(port, { auth: { passwordEnv: 'KS_TEST_PW' } })));
      expect(err.stage).toBe('connect');
      expect(accepted).toBe(3);
    } finally {
      await new Promise<void>((r) => dropper.close(() => r()));
    }
  });

  it('succeeds when the server comes up during the retries', async () => {
    const port = await deadPort();
    const key = await clientKeyFile(dir);
    await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', port, hostKey.blob)}\n`);
    const { pool: p, events } = pool({ knownHostsFile: knownHosts, connectAttempts: 4 });
    const connecting = p.connect(target(port, { auth: { keyFile: key.file } }));
    // The first attempt is refused; start sshd on that port before the second one.
    await new Promise((r) => setTimeout(r, 100));
    server = await startTestServerOnPort(port, key.pair.public);
    const host = await connecting;
    expect((await host.run('echo up')).stdout).toBe('up\n');
    expect(events.filter((e) => e.kind === 'retry').length).toBeGreaterThanOrEqual(1);
  });

  it('after a lost connection, connect() again makes a new one (a host that rebooted)', async () => {
    const key = await clientKeyFile(dir);
    const s = await serveWithKnownKey({ root: { publicKey: key.pair.public } });
    const { pool: p } = pool({ knownHostsFile: knownHosts });
    const t = target(s.port, { auth: { keyFile: key.file } });
    const first = await p.connect(t);
    expect(await p.connect(t)).toBe(first);
    await s.stop();
    await expect(first.run('true')).rejects.toThrow(/connection lost/);
    server = await startTestServerOnPort(s.port, key.pair.public);
    const second = await p.connect(t);
    expect(second).not.toBe(first);
    expect((await second.run('echo back')).stdout).toBe('back\n');
  });

  it('times out a host that accepts TCP but never speaks SSH, within connectTimeoutMs per attempt', async () => {
    const held = new Set<Socket>();
    const silent = createServer((sock) => held.add(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      process.env.KS_TEST_PW = 'x';
      const started = Date.now();
      const err = await failure(pool({ knownHostsFile: knownHosts, connectAttempts: 2, connectTimeoutMs: 300 }).pool.connect(target(port, { auth: { passwordEnv: 'KS_TEST_PW' } })));
      expect(err.stage).toBe('connect');
      expect(err.message).toContain('within 300 ms');
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const sock of held) sock.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

/** The test server on a chosen port (for the "comes up later" case). */
async function startTestServerOnPort(port: number, publicKey: string): Promise<TestServer> {
  return startTestServer({ hostKeys: [hostKey.private], users: { root: { publicKey } }, port });
}

describe('jump host', () => {
  it('reaches a target through a jump host, checking both host keys, sharing one jump connection', async () => {
    const key = await clientKeyFile(dir);
    const jumpKey = keyPair('ecdsa');
    const jumpServer = await startTestServer({ hostKeys: [jumpKey.private], users: { hop: { publicKey: key.pair.public } } });
    try {
      server = await startTestServer({ hostKeys: [hostKey.private], users: { root: { publicKey: key.pair.public } } });
      await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', server.port, hostKey.blob)}\n${formatKnownHostsLine('127.0.0.1', jumpServer.port, jumpKey.blob)}\n`);
      const p = pool({ knownHostsFile: knownHosts }).pool;
      const jump = { name: 'bastion', address: '127.0.0.1', port: jumpServer.port, user: 'hop', auth: { keyFile: key.file } };
      const a = await p.connect(target(server.port, { name: 'a', jump, auth: { keyFile: key.file } }));
      const b = await p.connect(target(server.port, { name: 'b', jump, auth: { keyFile: key.file } }));
      expect((await a.run('echo via-jump')).stdout).toBe('via-jump\n');
      expect((await b.run('echo b')).stdout).toBe('b\n');
      expect(jumpServer.connections).toBe(1);
      expect(jumpServer.tunnels).toBe(2);
      expect(jumpServer.commands).toEqual([]);
    } finally {
      await jumpServer.stop();
    }
  });

  it('checks the jump host key too, and names the jump host in the error', async () => {
    const key = await clientKeyFile(dir);
    const jumpServer = await startTestServer({ hostKeys: [keyPair('ed25519').private], users: { hop: { publicKey: key.pair.public } } });
    try {
      server = await serveWithKnownKey({ root: { publicKey: key.pair.public } });
      const jump = { name: 'bastion', address: '127.0.0.1', port: jumpServer.port, user: 'hop', auth: { keyFile: key.file } };
      const err = await failure(pool({ knownHostsFile: knownHosts }).pool.connect(target(server.port, { jump, auth: { keyFile: key.file } })));
      expect(err.stage).toBe('hostkey');
      expect(err.host).toBe('bastion');
      expect(server.connections).toBe(0);
    } finally {
      await jumpServer.stop();
    }
  });

  it('reports a target the jump host cannot reach as a connect error naming both', async () => {
    const key = await clientKeyFile(dir);
    const jumpKey = keyPair('ed25519');
    const jumpServer = await startTestServer({ hostKeys: [jumpKey.private], users: { hop: { publicKey: key.pair.public } } });
    try {
      await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', jumpServer.port, jumpKey.blob)}\n`);
      const port = await deadPort();
      const jump = { name: 'bastion', address: '127.0.0.1', port: jumpServer.port, user: 'hop', auth: { keyFile: key.file } };
      const err = await failure(pool({ knownHostsFile: knownHosts, connectAttempts: 2 }).pool.connect(target(port, { jump, auth: { keyFile: key.file } })));
      expect(err.stage).toBe('connect');
      expect(err.message).toContain(`jump host bastion cannot reach 127.0.0.1:${port}`);
      expect(jumpServer.connections).toBe(1);
    } finally {
      await jumpServer.stop();
    }
  });
});
