import { readFileSync, statSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { SshError } from '../errors.js';
import { fingerprintSha256, formatKnownHostsLine, hostKeyAlgorithmsFor, hostLookupName, keyTypeOf, knownHostsEntriesFor, type KnownHostEntry } from './known-hosts.js';
import type { SshLogSink } from './log.js';
import type { SshEndpoint } from './target.js';

/**
 * Host key policy: known keys pass, unknown keys are refused unless the run may accept new ones,
 * changed and revoked keys are always refused. The check runs inside ssh2's `hostVerifier`, on the
 * raw key, before any credential is sent.
 */

/** Host key algorithms ssh2 can verify; a known_hosts type outside this list cannot be used to restrict. */
const SUPPORTED_ALGORITHMS = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-dss']);

type Verdict = { kind: 'known' } | { kind: 'unknown'; otherTypes: string[] } | { kind: 'changed'; expected: KnownHostEntry[] } | { kind: 'revoked'; entry: KnownHostEntry };

/** Decides what a presented key means given the known_hosts lines that match the host. */
export function judgeHostKey(entries: readonly KnownHostEntry[], key: Buffer): Verdict {
  const type = keyTypeOf(key);
  const revoked = entries.find((e) => e.revoked && e.key.equals(key));
  if (revoked) return { kind: 'revoked', entry: revoked };
  const trusted = entries.filter((e) => !e.revoked);
  const sameType = trusted.filter((e) => e.keyType === type);
  if (sameType.some((e) => e.key.equals(key))) return { kind: 'known' };
  if (sameType.length > 0) return { kind: 'changed', expected: sameType };
  return { kind: 'unknown', otherTypes: [...new Set(trusted.map((e) => e.keyType))] };
}

/**
 * The host key algorithms to offer a host we hold keys for: only the types we can check. Without
 * this a server that also has an ed25519 key would present that one, and a host we know by its
 * ecdsa key would look unknown. Undefined means "no restriction" (the host is new to us).
 */
export function hostKeyAlgorithmsToOffer(entries: readonly KnownHostEntry[]): string[] | undefined {
  const algos = entries
    .filter((e) => !e.revoked)
    .flatMap((e) => hostKeyAlgorithmsFor(e.keyType))
    .filter((a) => SUPPORTED_ALGORITHMS.has(a));
  return algos.length > 0 ? [...new Set(algos)] : undefined;
}

/** What one connection attempt needs: the algorithm restriction and a verifier that remembers why it refused. */
export interface HostKeyCheck {
  serverHostKey: string[] | undefined;
  /** Resolves true to let the handshake go on; on false, `failure` says why. */
  verify(key: Buffer): Promise<boolean>;
  failure: SshError | undefined;
}

// Appends to one known_hosts file are serialized within the process, so two hosts accepted at the
// same moment do not interleave their lines.
const fileLocks = new Map<string, Promise<unknown>>();

function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prev = fileLocks.get(file) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  fileLocks.set(
    file,
    next.catch(() => undefined),
  );
  return next;
}

export class HostKeyPolicy {
  constructor(
    private readonly file: string,
    private readonly acceptNew: boolean,
    private readonly log?: SshLogSink,
  ) {}

  /** Reads known_hosts (fresh each attempt: another run or a person may have edited it) and prepares the check. */
  async prepare(endpoint: SshEndpoint): Promise<HostKeyCheck> {
    const entries = await this.entriesFor(endpoint);
    const check: HostKeyCheck = {
      serverHostKey: hostKeyAlgorithmsToOffer(entries),
      failure: undefined,
      verify: async (key) => {
        try {
          check.failure = await this.decide(endpoint, entries, key);
        } catch (err) {
          check.failure = new SshError(endpoint.name, 'hostkey', `could not record the host key in ${this.file}: ${(err as Error).message}`, 'make the known_hosts file and its directory writable');
        }
        return check.failure === undefined;
      },
    };
    return check;
  }

  /** A refusal when the host is known without any key type this client can check. */
  noCommonKeyType(endpoint: SshEndpoint, offered: readonly string[]): SshError {
    return new SshError(
      endpoint.name,
      'hostkey',
      `${hostLookupName(endpoint.address, endpoint.port)} did not offer any host key type known for it in ${this.file} (${offered.join(', ')})`,
      `the host's keys were probably regenerated: confirm with the host's owner, remove its lines from ${this.file} and re-run with --accept-new-host-keys`,
    );
  }

  private async entriesFor(endpoint: SshEndpoint): Promise<KnownHostEntry[]> {
    const text = await readKnownHostsText(this.file);
    return knownHostsEntriesFor(text, endpoint.address, endpoint.port);
  }

  /** Returns undefined to accept, or the error that explains the refusal. */
  private async decide(endpoint: SshEndpoint, entries: readonly KnownHostEntry[], key: Buffer): Promise<SshError | undefined> {
    const verdict = judgeHostKey(entries, key);
    if (verdict.kind === 'known') return undefined;
    if (verdict.kind !== 'unknown' || !this.acceptNew) return this.refusal(endpoint, verdict, key);
    return withFileLock(this.file, async () => {
      // Judge again under the lock: a parallel connection may have just recorded this host.
      const fresh = judgeHostKey(await this.entriesFor(endpoint), key);
      if (fresh.kind === 'known') return undefined;
      if (fresh.kind !== 'unknown') return this.refusal(endpoint, fresh, key);
      await appendKnownHost(this.file, formatKnownHostsLine(endpoint.address, endpoint.port, key));
      this.log?.({
        host: endpoint.name,
        kind: 'hostkey-recorded',
        detail: `${keyTypeOf(key)} ${fingerprintSha256(key)} -> ${this.file}`,
      });
      return undefined;
    });
  }

  private refusal(endpoint: SshEndpoint, verdict: Exclude<Verdict, { kind: 'known' }>, key: Buffer): SshError {
    const where = hostLookupName(endpoint.address, endpoint.port);
    const presented = `${keyTypeOf(key)} ${fingerprintSha256(key)}`;
    switch (verdict.kind) {
      case 'revoked':
        return new SshError(
          endpoint.name,
          'hostkey',
          `${where} presented a REVOKED host key ${presented} (${this.file}:${verdict.entry.line})`,
          'this key must not be trusted: give the host a new host key, or remove the @revoked line if it was added by mistake',
        );
      case 'changed': {
        const expected = verdict.expected.map((e) => `${e.keyType} ${fingerprintSha256(e.key)} (${this.file}:${e.line})`).join(', ');
        const lines = verdict.expected.map((e) => e.line).join(', ');
        return new SshError(
          endpoint.name,
          'hostkey',
          `HOST KEY CHANGED for ${where}: expected ${expected}, but the host presented ${presented}. Someone may be intercepting the connection, or the host was reinstalled`,
          `if the host was reinstalled, confirm the new fingerprint on its console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), delete line ${lines} of ${this.file}, then re-run with --accept-new-host-keys`,
        );
      }
      case 'unknown': {
        const others = verdict.otherTypes.length ? ` (known only with other key types: ${verdict.otherTypes.join(', ')})` : '';
        return new SshError(
          endpoint.name,
          'hostkey',
          `unknown host key for ${where}: ${presented}${others}`,
          `check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then re-run with --accept-new-host-keys, or add the key to ${this.file}`,
        );
      }
    }
  }
}

/**
 * The file's text as last read, with what its stat said then: every connection reads known_hosts
 * afresh (it may have changed), and 1000 connections reading a 1000-line file cost a second of a
 * run. An unchanged stat (same file, size and modification time to the nanosecond) means the text read before.
 */
const lastRead = new Map<string, { stamp: string; text: string }>();

async function readKnownHostsText(file: string): Promise<string> {
  try {
    // Sync: 6 µs here, where an awaited stat is a trip through libuv's thread pool (80 µs, once per connection).
    const stats = statSync(file, { bigint: true });
    const stamp = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    const cached = lastRead.get(file);
    if (cached?.stamp === stamp) return cached.text;
    // Sync too, like the stat: a connection then reaches its TCP connect without waiting for the
    // event loop, so the handshakes a run starts early are under way before its CPU-bound checks.
    const text = readFileSync(file, 'utf8');
    lastRead.set(file, { stamp, text });
    return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Appends one line, first adding the newline a hand-edited file may lack. */
async function appendKnownHost(file: string, line: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const current = await readKnownHostsText(file);
  const sep = current === '' || current.endsWith('\n') ? '' : '\n';
  await appendFile(file, `${sep}${line}\n`, { mode: 0o644 });
}
