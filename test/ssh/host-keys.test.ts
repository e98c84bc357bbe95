import { createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SshError } from '../../src/errors.js';
import { fingerprintSha256 } from '../../src/ssh/known-hosts.js';
import { clientKeyFile, keyPair, pool, target, tempDir, type KeyPair } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/** Host key checking against a real SSH handshake (ssh2's in-process server). */

let dir: string;
let knownHosts: string;
let keyFile: string;
let clientPublic: string;
let ed: KeyPair;
let ecdsa: KeyPair;
let server: TestServer;

async function serve(hostKeys: KeyPair[]): Promise<TestServer> {
  const client = await clientKeyFile(dir);
  keyFile = client.file;
  clientPublic = client.pair.public;
  server = await startTestServer({ hostKeys: hostKeys.map((k) => k.private), users: { root: { publicKey: client.pair.public } } });
  return server;
}

function node(port: number) {
  return target(port, { auth: { keyFile } });
}

function hostKeyError(err: unknown): SshError {
  expect(err).toBeInstanceOf(SshError);
  const e = err as SshError;
  expect(e.stage).toBe('hostkey');
  return e;
}

beforeEach(async () => {
  dir = await tempDir();
  knownHosts = path.join(dir, 'known_hosts');
  ed = keyPair('ed25519');
  ecdsa = keyPair('ecdsa');
});
afterEach(async () => {
  await server?.stop();
});

describe('host keys', () => {
  it('refuses an unknown host key, showing its type, SHA256 fingerprint and the flag to accept it', async () => {
    const s = await serve([ed]);
    const { pool: p } = pool({ knownHostsFile: knownHosts, connectAttempts: 3 });
    const err = hostKeyError(await p.connect(node(s.port)).catch((e: unknown) => e));
    expect(err.message).toContain(`ssh-ed25519 ${fingerprintSha256(ed.blob)}`);
    expect(err.message).toMatch(/SHA256:[A-Za-z0-9+/]{43}(?!=)/);
    expect(err.hint).toContain('--accept-new-host-keys');
    expect(err.hint).toContain(knownHosts);
    // Not a connect-level failure: no retry, and no credentials were offered to an unverified host.
    expect(s.connections).toBe(1);
    expect(s.authAttempts).toBe(0);
  });

  it('with acceptNewHostKeys records the key as [host]:port, and the next run trusts it', async () => {
    const s = await serve([ed]);
    const first = pool({ knownHostsFile: knownHosts, acceptNewHostKeys: true });
    const host = await first.pool.connect(node(s.port));
    expect((await host.run('echo ok')).stdout).toBe('ok\n');
    expect(await readFile(knownHosts, 'utf8')).toBe(`[127.0.0.1]:${s.port} ssh-ed25519 ${ed.blob.toString('base64')}\n`);
    expect(first.events.some((e) => e.kind === 'hostkey-recorded')).toBe(true);
    await first.pool.closeAll();

    const second = pool({ knownHostsFile: knownHosts, acceptNewHostKeys: false });
    const again = await second.pool.connect(node(s.port));
    expect((await again.run('echo again')).stdout).toBe('again\n');
    expect(await readFile(knownHosts, 'utf8')).toBe(`[127.0.0.1]:${s.port} ssh-ed25519 ${ed.blob.toString('base64')}\n`);
  });

  it('records each of several new hosts exactly once when they connect at the same time', async () => {
    const s = await serve([ed]);
    const other = await startTestServer({ hostKeys: [ecdsa.private], users: { root: { publicKey: clientPublic } } });
    try {
      const p = pool({ knownHostsFile: knownHosts, acceptNewHostKeys: true }).pool;
      // Same host under two names plus a second host: three verifications race for the file lock.
      await Promise.all([p.connect(node(s.port)), p.connect(target(s.port, { name: 'alias', auth: { keyFile } })), p.connect(target(other.port, { name: 'node2', auth: { keyFile } }))]);
      const lines = (await readFile(knownHosts, 'utf8')).trim().split('\n');
      expect(lines.sort()).toEqual([`[127.0.0.1]:${s.port} ssh-ed25519 ${ed.blob.toString('base64')}`, `[127.0.0.1]:${other.port} ecdsa-sha2-nistp256 ${ecdsa.blob.toString('base64')}`].sort());
    } finally {
      await other.stop();
    }
  });

  it('always refuses a CHANGED key, even with acceptNewHostKeys, showing both fingerprints and the line to fix', async () => {
    const s = await serve([ed]);
    const old = keyPair('ed25519');
    await writeFile(knownHosts, `# cluster hosts\n[127.0.0.1]:${s.port} ssh-ed25519 ${old.blob.toString('base64')}\n`);
    const { pool: p } = pool({ knownHostsFile: knownHosts, acceptNewHostKeys: true });
    const err = hostKeyError(await p.connect(node(s.port)).catch((e: unknown) => e));
    expect(err.message).toContain('HOST KEY CHANGED');
    expect(err.message).toContain(fingerprintSha256(old.blob));
    expect(err.message).toContain(fingerprintSha256(ed.blob));
    expect(err.message).toContain(`${knownHosts}:2`);
    expect(err.hint).toContain(`delete line 2 of ${knownHosts}`);
    // Nothing was appended.
    expect((await readFile(knownHosts, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('reads known_hosts again once it changed, though a connection before found it unchanged', async () => {
    const s = await serve([ed]);
    const other = keyPair('ed25519');
    // The same length: only the file's times tell the two versions apart.
    await writeFile(knownHosts, `[127.0.0.1]:${s.port} ssh-ed25519 ${other.blob.toString('base64')}\n`);
    const { pool: p } = pool({ knownHostsFile: knownHosts });
    expect(hostKeyError(await p.connect(node(s.port)).catch((e: unknown) => e)).message).toContain('HOST KEY CHANGED');
    await writeFile(knownHosts, `[127.0.0.1]:${s.port} ssh-ed25519 ${ed.blob.toString('base64')}\n`);
    const { pool: again } = pool({ knownHostsFile: knownHosts });
    await expect(again.connect(node(s.port))).resolves.toBeDefined();
  });

  it('matches a hashed known_hosts entry (|1|salt|hmac)', async () => {
    const s = await serve([ed]);
    const salt = randomBytes(20);
    const hmac = createHmac('sha1', salt).update(`[127.0.0.1]:${s.port}`).digest();
    await writeFile(knownHosts, `|1|${salt.toString('base64')}|${hmac.toString('base64')} ssh-ed25519 ${ed.blob.toString('base64')}\n`);
    const host = await pool({ knownHostsFile: knownHosts }).pool.connect(node(s.port));
    expect((await host.run('echo hashed')).stdout).toBe('hashed\n');
  });

  it('does not take a plain "127.0.0.1" entry (port 22) for a host on another port', async () => {
    const s = await serve([ed]);
    await writeFile(knownHosts, `127.0.0.1 ssh-ed25519 ${ed.blob.toString('base64')}\n`);
    const err = hostKeyError(
      await pool({ knownHostsFile: knownHosts })
        .pool.connect(node(s.port))
        .catch((e: unknown) => e),
    );
    expect(err.message).toContain('unknown host key');
  });

  it('accepts a host that has ed25519 and ecdsa keys when only the ecdsa one is known (restricts the offered algorithms)', async () => {
    const s = await serve([ed, ecdsa]);
    await writeFile(knownHosts, `[127.0.0.1]:${s.port} ecdsa-sha2-nistp256 ${ecdsa.blob.toString('base64')}\n`);
    const host = await pool({ knownHostsFile: knownHosts }).pool.connect(node(s.port));
    expect((await host.run('echo ecdsa')).stdout).toBe('ecdsa\n');
  });

  it('refuses a host that no longer offers any key type we know for it', async () => {
    const s = await serve([ed]);
    await writeFile(knownHosts, `[127.0.0.1]:${s.port} ecdsa-sha2-nistp256 ${ecdsa.blob.toString('base64')}\n`);
    const err = hostKeyError(
      await pool({ knownHostsFile: knownHosts, acceptNewHostKeys: true })
        .pool.connect(node(s.port))
        .catch((e: unknown) => e),
    );
    expect(err.message).toContain('ecdsa-sha2-nistp256');
    expect(err.hint).toContain(knownHosts);
  });

  it('refuses a @revoked key even when the same key is also listed as trusted', async () => {
    const s = await serve([ed]);
    const b64 = ed.blob.toString('base64');
    await writeFile(knownHosts, `[127.0.0.1]:${s.port} ssh-ed25519 ${b64}\n@revoked * ssh-ed25519 ${b64}\n`);
    const err = hostKeyError(
      await pool({ knownHostsFile: knownHosts, acceptNewHostKeys: true })
        .pool.connect(node(s.port))
        .catch((e: unknown) => e),
    );
    expect(err.message).toContain('REVOKED');
    expect(err.message).toContain(`${knownHosts}:2`);
  });
});
