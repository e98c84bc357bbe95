import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterEach } from 'vitest';
import { SshPool, type SshOptions } from '../../../src/ssh/pool.js';
import type { SshLogEvent } from '../../../src/ssh/log.js';
import type { SshTarget } from '../../../src/ssh/target.js';

/** Key material and temp dirs for the SSH tests; every pool made here is closed after each test. */

export interface KeyPair {
  private: string;
  public: string;
  /** Wire-format public key, as a host presents it. */
  blob: Buffer;
}

export function keyPair(type: 'ed25519' | 'ecdsa' | 'rsa', passphrase?: string): KeyPair {
  // ssh2's ed25519 keygen strips leading zero bytes of the public key, so about 1 key in 256 comes
  // out malformed (mscdex/ssh2#1390, #1513): generate until both halves parse.
  for (;;) {
    const k = generate(type, passphrase);
    const priv = ssh2.utils.parseKey(k.private, passphrase);
    const pub = ssh2.utils.parseKey(k.public);
    if (priv instanceof Error || pub instanceof Error) continue;
    const b64 = k.public.split(' ')[1] ?? '';
    return { private: k.private, public: k.public, blob: Buffer.from(b64, 'base64') };
  }
}

function generate(type: 'ed25519' | 'ecdsa' | 'rsa', passphrase: string | undefined): { private: string; public: string } {
  const enc: ssh2.utils.KeyPairOptions = passphrase ? { passphrase, cipher: 'aes256-ctr', rounds: 4 } : {};
  if (type === 'ecdsa') return ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256, ...enc });
  if (type === 'rsa') return ssh2.utils.generateKeyPairSync('rsa', { bits: 2048, ...enc });
  return ssh2.utils.generateKeyPairSync('ed25519', enc);
}

export async function tempDir(prefix = 'ks-ssh-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** A client key written to disk, as the inventory would reference it. */
export async function clientKeyFile(dir: string, passphrase?: string): Promise<{ file: string; pair: KeyPair }> {
  const pair = keyPair('ed25519', passphrase);
  const file = path.join(dir, 'id_ed25519');
  await writeFile(file, pair.private, { mode: 0o600 });
  return { file, pair };
}

export function target(port: number, over: Partial<SshTarget> = {}): SshTarget {
  return { name: 'node1', address: '127.0.0.1', port, user: 'root', auth: {}, ...over };
}

const pools: SshPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.closeAll()));
});

/** A pool that records its log events and is closed after the test. */
export function pool(opts: Partial<SshOptions> & { knownHostsFile: string }): { pool: SshPool; events: SshLogEvent[] } {
  const events: SshLogEvent[] = [];
  const also = opts.log;
  const p = new SshPool({
    acceptNewHostKeys: false,
    connectAttempts: 1,
    ...opts,
    log: (e) => {
      events.push(e);
      also?.(e);
    },
  });
  pools.push(p);
  return { pool: p, events };
}
