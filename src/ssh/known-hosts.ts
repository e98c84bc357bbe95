import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { hostPatternsMatch } from './host-patterns.js';

/**
 * OpenSSH known_hosts, the format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): parse lines, match a
 * host against them, write a new line. Pure functions: reading, locking and policy live in
 * host-keys.ts.
 *
 * A line is `[@marker] hostpatterns keytype base64key [comment]`. Host patterns are a comma list
 * of names (`*` and `?` wildcards, `!` negation) or one hashed entry `|1|base64salt|base64hmac`.
 * A host on a non-default port is written `[host]:port`.
 */

export interface KnownHostEntry {
  /** 1-based line number in the file, for "fix line N" hints. */
  line: number;
  revoked: boolean;
  /** The host field as written (a pattern list or a `|1|` hash). */
  hosts: string;
  keyType: string;
  /** The key in SSH wire format (the base64 field decoded). */
  key: Buffer;
}

let lastParsed: { text: string; entries: readonly KnownHostEntry[]; index: EntryIndex } | undefined;

/**
 * Entries by the one lower-case name they list plainly, and those that must be matched one by one
 * (wildcards, negations, hashes): each of 1000 connections looks itself up among 1000 lines, and
 * comparing every line was a million matches per run.
 */
interface EntryIndex {
  byName: Map<string, KnownHostEntry[]>;
  patterned: KnownHostEntry[];
}

/**
 * Parses known_hosts text. Lines OpenSSH would skip are skipped too: blanks, comments, malformed
 * lines, and `@cert-authority` lines (host certificates are not something we verify).
 */
export function parseKnownHosts(text: string): readonly KnownHostEntry[] {
  // Each connection reads the file afresh (it may have changed), and a run connects to every host:
  // the same text is parsed once, not once per host (1000 hosts, 1000 lines each: a million lines).
  return parsed(text).entries;
}

function parsed(text: string): NonNullable<typeof lastParsed> {
  if (lastParsed?.text === text) return lastParsed;
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const entry = parseLine(raw, i + 1);
    if (entry) entries.push(entry);
  });
  lastParsed = { text, entries, index: indexEntries(entries) };
  return lastParsed;
}

function indexEntries(entries: readonly KnownHostEntry[]): EntryIndex {
  const index: EntryIndex = { byName: new Map(), patterned: [] };
  for (const entry of entries) {
    const names = entry.hosts.split(',');
    if (entry.hosts.startsWith('|') || names.some((n) => /[*?!]/.test(n))) {
      index.patterned.push(entry);
      continue;
    }
    for (const name of new Set(names.map((n) => n.toLowerCase()))) {
      const list = index.byName.get(name);
      if (list) list.push(entry);
      else index.byName.set(name, [entry]);
    }
  }
  return index;
}

/** The entries of known_hosts `text` that cover this host, in file order: as filtering with entryMatchesHost, without matching every line. */
export function knownHostsEntriesFor(text: string, address: string, port: number): KnownHostEntry[] {
  const { index } = parsed(text);
  const plain = index.byName.get(hostLookupName(address, port).toLowerCase()) ?? [];
  const matched = index.patterned.filter((e) => entryMatchesHost(e, address, port));
  return matched.length ? [...plain, ...matched].sort((a, b) => a.line - b.line) : [...plain];
}

function parseLine(raw: string, line: number): KnownHostEntry | undefined {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const fields = text.split(/\s+/);
  let revoked = false;
  if (fields[0]?.startsWith('@')) {
    const marker = fields.shift();
    if (marker === '@revoked') revoked = true;
    else return undefined; // @cert-authority or an unknown marker
  }
  const [hosts, keyType, b64] = fields;
  if (!hosts || !keyType || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const key = Buffer.from(b64, 'base64');
  // The blob names its own type; a line whose type field disagrees is corrupt, not a valid key.
  if (keyTypeOf(key) !== keyType) return undefined;
  return { line, revoked, hosts, keyType, key };
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function hostLookupName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/** Whether an entry's host field covers this host (hashed or pattern list). */
export function entryMatchesHost(entry: KnownHostEntry, address: string, port: number): boolean {
  const name = hostLookupName(address, port);
  if (entry.hosts.startsWith('|')) return hashedMatches(entry.hosts, name);
  return hostPatternsMatch(entry.hosts.split(','), name);
}

/** `|1|salt|hmac`: HMAC-SHA1 of the lookup name keyed with the salt (OpenSSH `HashKnownHosts`). */
function hashedMatches(field: string, name: string): boolean {
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1' || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const expected = Buffer.from(parts[3], 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The key type named inside an SSH wire-format public key (its first string). */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const len = key.readUInt32BE(0);
  if (len === 0 || len > 64 || key.length < 4 + len) return undefined;
  return key.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:...` exactly as `ssh-keygen -l` and OpenSSH's prompts print it (base64, no padding). */
export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** One known_hosts line for a newly accepted key, plain (not hashed) so people can read and edit it. */
export function formatKnownHostsLine(address: string, port: number, key: Buffer): string {
  return `${hostLookupName(address, port)} ${keyTypeOf(key) ?? 'unknown'} ${key.toString('base64')}`;
}

/**
 * Host key algorithms a server may use to present a key of this type. An `ssh-rsa` key is signed
 * with rsa-sha2-512/256 by any current server, so all three must stay allowed.
 */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}
