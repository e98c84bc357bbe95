import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
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

describe('runToOutput', () => {
  /** A writable that hashes what it takes and can be held still (each write waits while held). */
  function slowSink() {
    const hash = createHash('sha256');
    let taken = 0;
    let release: (() => void) | undefined;
    let held: Promise<void> | undefined = new Promise<void>((r) => {
      release = r;
    });
    const sink = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        taken += chunk.length;
        (held ?? Promise.resolve()).then(() => done());
      },
    });
    return {
      sink,
      taken: () => taken,
      sha: () => hash.digest('hex'),
      release: () => {
        held = undefined;
        release?.();
      },
    };
  }

  // 96 blocks of 256 KiB (24 MiB), counted in a file as the command writes them.
  const BLOCKS = 96;
  const BLOCK = 256 * 1024;
  const producer = (progress: string) => `i=0; while [ $i -lt ${BLOCKS} ]; do head -c ${BLOCK} /dev/zero | tr '\\0' x; i=$((i+1)); echo $i > ${progress}; done`;

  it('pipes a large stdout into a writable with backpressure: a held sink holds the command back, and every byte arrives', async () => {
    const host = await connect('root', { root: {} });
    const progress = path.join(dir, 'progress');
    const s = slowSink();
    const run = host.runToOutput(producer(progress), s.sink);
    await new Promise((r) => setTimeout(r, 700));
    // Held after its first chunk: the command is held back (the SSH window of 2 MiB and the pipes
    // between hold some MiB), not read whole into this process.
    const written = Number((await readFile(progress, 'utf8').catch(() => '0')).trim());
    expect(written).toBeLessThan(BLOCKS / 2);
    s.release();
    const res = await run;
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('');
    expect(s.taken()).toBe(BLOCKS * BLOCK);
    expect(s.sha()).toBe(sha(Buffer.alloc(BLOCKS * BLOCK, 'x')));
  });

  it('keeps stdout out of the sudo marker and stderr out of the stream', async () => {
    const host = await connect('opspw', { opspw: { sudo: 'password', sudoPassword: SUDO_PW } }, { sudoPasswordEnv: 'KS_STREAM_PW' });
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
    const res = await host.runToOutput('echo report >&2; printf "bytes\\0only"', sink);
    expect(Buffer.concat(chunks).toString('latin1')).toBe('bytes\0only');
    expect(res.stderr).toBe('report\n');
  });

  it('fails clearly when the writable fails', async () => {
    const host = await connect('root', { root: {} });
    const broken = new Writable({
      write(_chunk, _enc, done) {
        done(new Error('no space left on device'));
      },
    });
    const err = await host.runToOutput('head -c 1000000 /dev/zero', broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as SshError).message).toContain('could not keep the output of: head -c 1000000 /dev/zero: no space left on device');
    expect((await host.run('echo alive')).stdout).toBe('alive\n');
  });
});
