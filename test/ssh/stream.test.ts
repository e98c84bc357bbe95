import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SshError } from '../../src/errors.js';
import { formatKnownHostsLine } from '../../src/ssh/known-hosts.js';
import type { SshTarget } from '../../src/ssh/target.js';
import { clientKeyFile, keyPair, pool, target, tempDir } from './support/fixtures.js';
import { startTestServer, type TestServer, type TestUser } from './support/test-server.js';

/** runWithInput(): a stream into a root command, under every privilege mode, never whole in memory. */

let dir: string;
let server: TestServer;
const SUDO_PW = 'stream-sudo-secret-31';

async function connect(user: string, users: Record<string, TestUser>, over: Partial<SshTarget> = {}) {
  const hostKey = keyPair('ed25519');
  const client = await clientKeyFile(dir);
  const withKey = Object.fromEntries(Object.entries(users).map(([n, u]) => [n, { publicKey: client.pair.public, ...u }]));
  server = await startTestServer({ hostKeys: [hostKey.private], users: withKey });
  const knownHosts = path.join(dir, 'known_hosts');
  await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', server.port, hostKey.blob)}\n`);
  return pool({ knownHostsFile: knownHosts }).pool.connect(target(server.port, { user, auth: { keyFile: client.file }, ...over }));
}

const payload = randomBytes(3 * 1024 * 1024 + 17);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const chunks = () =>
  Readable.from(
    (function* () {
      for (let off = 0; off < payload.length; off += 256 * 1024) yield payload.subarray(off, off + 256 * 1024);
    })(),
  );

beforeEach(async () => {
  dir = await tempDir();
  process.env.KS_STREAM_PW = SUDO_PW;
});
afterEach(async () => {
  await server?.stop();
});

describe('runWithInput', () => {
  it('streams into a root command and counts the bytes sent', async () => {
    const host = await connect('root', { root: {} });
    const res = await host.runWithInput('sha256sum | cut -d" " -f1', chunks);
    expect(res.stdout.trim()).toBe(sha(payload));
    expect(host.stats.streamedBytes).toBe(payload.length);
    expect(host.stats.execs).toBe(1);
  });

  it('streams through sudo -n', async () => {
    const host = await connect('ops', { ops: { sudo: 'nopasswd' } });
    expect((await host.runWithInput('wc -c', chunks)).stdout.trim()).toBe(String(payload.length));
  });

  it('puts the sudo password before the stream, and it reaches neither the command nor the count', async () => {
    const host = await connect('opspw', { opspw: { sudo: 'password', sudoPassword: SUDO_PW } }, { sudoPasswordEnv: 'KS_STREAM_PW' });
    const res = await host.runWithInput('sha256sum | cut -d" " -f1', chunks);
    expect(res.stdout.trim()).toBe(sha(payload));
    expect(host.stats.streamedBytes).toBe(payload.length);
  });

  it('refuses with a clear error on a host whose sudo needs a tty', async () => {
    const host = await connect('ops', { ops: { sudo: 'nopasswd', requiretty: true } });
    const err = await host.runWithInput('cat >/dev/null', chunks).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as SshError).message).toContain('requires a tty (requiretty), which cannot carry a binary stream');
    expect((err as SshError).hint).toContain('requiretty');
  });

  it('fails clearly when the local source breaks', async () => {
    const host = await connect('root', { root: {} });
    const broken = () =>
      Readable.from(
        (async function* () {
          yield Buffer.from('some');
          throw new Error('disk read error');
        })(),
      );
    const err = await host.runWithInput('cat >/dev/null; sleep 1', broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as SshError).message).toContain('could not send the input of: cat >/dev/null; sleep 1: disk read error');
    expect((await host.run('echo alive')).stdout).toBe('alive\n');
  });
});
