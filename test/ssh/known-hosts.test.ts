import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostKeyAlgorithmsToOffer, judgeHostKey } from '../../src/ssh/host-keys.js';
import { entryMatchesHost, fingerprintSha256, formatKnownHostsLine, hostLookupName, keyTypeOf, knownHostsEntriesFor, parseKnownHosts } from '../../src/ssh/known-hosts.js';
import { skipUnlessAvailable } from '../support/prerequisites.js';
import { keyPair, tempDir } from './support/fixtures.js';

/** The known_hosts format, checked where possible against OpenSSH's own ssh-keygen. */

const hasSshKeygen = !skipUnlessAvailable(spawnSync('ssh-keygen', ['-?']).error === undefined, 'ssh-keygen (apt-get install openssh-client)');
const ed = keyPair('ed25519');
const ec = keyPair('ecdsa');
const b64 = (k: { blob: Buffer }) => k.blob.toString('base64');

describe('parseKnownHosts', () => {
  it('reads plain lines with line numbers, skipping comments, blanks and malformed lines', () => {
    const text = [
      '# comment',
      '',
      `host1 ssh-ed25519 ${b64(ed)} root@box`,
      'garbage-without-key',
      `host2 ssh-rsa ${b64(ed)}`, // type field disagrees with the blob: corrupt
      `   host3 ecdsa-sha2-nistp256 ${b64(ec)}   `,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.hosts, e.keyType, e.revoked])).toEqual([
      [3, 'host1', 'ssh-ed25519', false],
      [6, 'host3', 'ecdsa-sha2-nistp256', false],
    ]);
    expect(entries[0]?.key.equals(ed.blob)).toBe(true);
  });

  it('parses a text once, however many hosts look themselves up in it, and a changed text anew', () => {
    const text = `host1 ssh-ed25519 ${b64(ed)}`;
    expect(parseKnownHosts(text)).toBe(parseKnownHosts(text));
    expect(parseKnownHosts(`${text}\nhost2 ssh-ed25519 ${b64(ed)}`).map((e) => e.hosts)).toEqual(['host1', 'host2']);
  });

  it('marks @revoked lines and ignores @cert-authority lines', () => {
    const entries = parseKnownHosts(`@revoked * ssh-ed25519 ${b64(ed)}\n@cert-authority *.example.com ssh-ed25519 ${b64(ec)}\n`);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ revoked: true, hosts: '*', line: 1 });
  });
});

describe('host matching', () => {
  const entry = (hosts: string) => parseKnownHosts(`${hosts} ssh-ed25519 ${b64(ed)}`)[0]!;

  it('uses the bare name on port 22 and [host]:port elsewhere, like OpenSSH', () => {
    expect(hostLookupName('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(hostLookupName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
    expect(entryMatchesHost(entry('10.0.0.1'), '10.0.0.1', 22)).toBe(true);
    expect(entryMatchesHost(entry('10.0.0.1'), '10.0.0.1', 2222)).toBe(false);
    expect(entryMatchesHost(entry('[10.0.0.1]:2222'), '10.0.0.1', 2222)).toBe(true);
    expect(entryMatchesHost(entry('[10.0.0.1]:2222'), '10.0.0.1', 22)).toBe(false);
  });

  it('matches comma lists, wildcards and negations, case-insensitively', () => {
    expect(entryMatchesHost(entry('node1,10.0.0.11'), '10.0.0.11', 22)).toBe(true);
    expect(entryMatchesHost(entry('node1,10.0.0.11'), 'NODE1', 22)).toBe(true);
    expect(entryMatchesHost(entry('node?.lab'), 'node7.lab', 22)).toBe(true);
    expect(entryMatchesHost(entry('*.lab,!bad.lab'), 'bad.lab', 22)).toBe(false);
    expect(entryMatchesHost(entry('*.lab,!bad.lab'), 'good.lab', 22)).toBe(true);
    expect(entryMatchesHost(entry('10.0.0.1'), '10.0.0.10', 22)).toBe(false); // dots are literal
  });

  it('matches hashed |1|salt|hmac entries for the exact lookup name', () => {
    const salt = Buffer.alloc(20, 7);
    const hashed = (name: string) => `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
    expect(entryMatchesHost(entry(hashed('10.0.0.1')), '10.0.0.1', 22)).toBe(true);
    expect(entryMatchesHost(entry(hashed('[10.0.0.1]:2222')), '10.0.0.1', 2222)).toBe(true);
    expect(entryMatchesHost(entry(hashed('10.0.0.1')), '10.0.0.2', 22)).toBe(false);
    expect(entryMatchesHost(entry('|1|bad'), '10.0.0.1', 22)).toBe(false);
  });

  it.skipIf(!hasSshKeygen)('matches entries hashed by ssh-keygen -H, and finds them as ssh-keygen -F does', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'known_hosts');
    writeFileSync(file, `10.0.0.1 ssh-ed25519 ${b64(ed)}\n[10.0.0.2]:2222 ecdsa-sha2-nistp256 ${b64(ec)}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(entries.filter((e) => entryMatchesHost(e, '10.0.0.1', 22)).map((e) => e.keyType)).toEqual(['ssh-ed25519']);
    expect(entries.filter((e) => entryMatchesHost(e, '10.0.0.2', 2222)).map((e) => e.keyType)).toEqual(['ecdsa-sha2-nistp256']);
    expect(entries.filter((e) => entryMatchesHost(e, '10.0.0.2', 22))).toEqual([]);
  });
});

describe('knownHostsEntriesFor', () => {
  it('finds what filtering every line with entryMatchesHost finds, in file order', () => {
    const text = [
      `*.lab,!bad.lab ssh-ed25519 ${b64(ed)}`,
      `node1,10.0.0.11 ssh-ed25519 ${b64(ed)}`,
      `@revoked NODE1 ecdsa-sha2-nistp256 ${b64(ec)}`,
      `[10.0.0.11]:2222 ssh-ed25519 ${b64(ed)}`,
      `node? ecdsa-sha2-nistp256 ${b64(ec)}`,
      `bad.lab ssh-ed25519 ${b64(ed)}`,
    ].join('\n');
    for (const [address, port] of [
      ['node1', 22],
      ['10.0.0.11', 22],
      ['10.0.0.11', 2222],
      ['good.lab', 22],
      ['bad.lab', 22],
      ['other', 22],
    ] as const) {
      const expected = parseKnownHosts(text).filter((e) => entryMatchesHost(e, address, port));
      expect(knownHostsEntriesFor(text, address, port)).toEqual(expected);
    }
    expect(knownHostsEntriesFor(text, 'node1', 22).map((e) => e.line)).toEqual([2, 3, 5]);
  });
});

describe('keys', () => {
  it('reads the key type from the blob', () => {
    expect(keyTypeOf(ed.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(ec.blob)).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBeUndefined();
  });

  it.skipIf(!hasSshKeygen)('prints the SHA256 fingerprint exactly as ssh-keygen -l does', async () => {
    const dir = await tempDir();
    for (const k of [ed, ec, keyPair('rsa')]) {
      const file = path.join(dir, 'key.pub');
      writeFileSync(file, `${k.public}\n`);
      const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
      expect(out.split(' ')[1]).toBe(fingerprintSha256(k.blob));
    }
  });

  it('formats a new line in [host]:port form off port 22', () => {
    expect(formatKnownHostsLine('10.0.0.1', 22, ed.blob)).toBe(`10.0.0.1 ssh-ed25519 ${b64(ed)}`);
    expect(formatKnownHostsLine('10.0.0.1', 2201, ed.blob)).toBe(`[10.0.0.1]:2201 ssh-ed25519 ${b64(ed)}`);
  });
});

describe('judging a presented key', () => {
  const rsa = keyPair('rsa');
  const lines = (...l: string[]) => parseKnownHosts(l.join('\n'));

  it('known, unknown, changed, revoked', () => {
    const other = keyPair('ed25519');
    expect(judgeHostKey(lines(`h ssh-ed25519 ${b64(ed)}`), ed.blob).kind).toBe('known');
    expect(judgeHostKey([], ed.blob).kind).toBe('unknown');
    expect(judgeHostKey(lines(`h ssh-ed25519 ${b64(other)}`), ed.blob)).toMatchObject({ kind: 'changed' });
    expect(judgeHostKey(lines(`h ssh-ed25519 ${b64(ed)}`, `@revoked h ssh-ed25519 ${b64(ed)}`), ed.blob).kind).toBe('revoked');
    // Known with another type only: not "changed" (OpenSSH treats it as a new key type for the host).
    expect(judgeHostKey(lines(`h ecdsa-sha2-nistp256 ${b64(ec)}`), ed.blob)).toEqual({ kind: 'unknown', otherTypes: ['ecdsa-sha2-nistp256'] });
  });

  it('offers only the algorithms of the key types we hold, with all three RSA signature algorithms', () => {
    expect(hostKeyAlgorithmsToOffer([])).toBeUndefined();
    expect(hostKeyAlgorithmsToOffer(lines(`h ecdsa-sha2-nistp256 ${b64(ec)}`))).toEqual(['ecdsa-sha2-nistp256']);
    expect(hostKeyAlgorithmsToOffer(lines(`h ssh-rsa ${b64(rsa)}`, `h ssh-ed25519 ${b64(ed)}`))).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
    expect(hostKeyAlgorithmsToOffer(lines(`@revoked h ssh-ed25519 ${b64(ed)}`))).toBeUndefined();
  });
});
