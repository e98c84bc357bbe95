import { readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { FACTS_SCRIPT, factsScript, parseFacts } from '../../src/engine/facts.js';
import { factsFor } from '../os/os-releases.js';
import { shRun } from './support.js';

describe('parseFacts', () => {
  it.each([
    ['centos7', { id: 'centos', idLike: ['rhel', 'fedora'], versionId: '7', codename: '', prettyName: 'CentOS Linux 7 (Core)' }, 'yum'],
    ['rocky93', { id: 'rocky', idLike: ['rhel', 'centos', 'fedora'], versionId: '9.3', codename: '', prettyName: 'Rocky Linux 9.3 (Blue Onyx)' }, 'dnf'],
    ['alma8', { id: 'almalinux', idLike: ['rhel', 'centos', 'fedora'], versionId: '8.9', codename: '', prettyName: 'AlmaLinux 8.9 (Midnight Oncilla)' }, 'dnf'],
    ['rhel9', { id: 'rhel', idLike: ['fedora'], versionId: '9.4', codename: '', prettyName: 'Red Hat Enterprise Linux 9.4 (Plow)' }, 'dnf'],
    ['debian12', { id: 'debian', idLike: [], versionId: '12', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' }, 'apt'],
    ['ubuntu2204', { id: 'ubuntu', idLike: ['debian'], versionId: '22.04', codename: 'jammy', prettyName: 'Ubuntu 22.04.4 LTS' }, 'apt'],
    ['alpine', { id: 'alpine', idLike: [], versionId: '3.19.1', codename: '', prettyName: 'Alpine Linux v3.19' }, undefined],
    ['fedora40', { id: 'fedora', idLike: [], versionId: '40', codename: '', prettyName: 'Fedora Linux 40 (Server Edition)' }, 'dnf'],
    ['debianSid', { id: 'debian', idLike: [], versionId: '', codename: 'trixie', prettyName: 'Debian GNU/Linux trixie/sid' }, 'apt'],
  ] as const)('reads os-release of %s, quoted or not', (os, expected, manager) => {
    const facts = factsFor(os);
    expect(facts.os).toEqual(expected);
    expect(facts.packageManager).toBe(manager);
  });

  it('strips prefix lengths from addresses and trims the other facts', () => {
    const facts = factsFor('rocky93', { addresses: '127.0.0.1/8\n10.0.0.11/24\n192.168.1.5/32', machine: 'aarch64' });
    expect(facts.addresses).toEqual(['127.0.0.1', '10.0.0.11', '192.168.1.5']);
    expect(facts.machine).toBe('aarch64');
    expect(facts.hostname).toBe('node1');
    expect(facts.init).toBe('systemd');
    expect(facts.kernel).toBe('5.14.0-362.8.1.el9_3.x86_64');
  });

  it('survives an empty reply', () => {
    expect(parseFacts('')).toEqual({
      os: { id: '', idLike: [], versionId: '', codename: '', prettyName: 'unknown OS' },
      machine: '',
      kernel: '',
      hostname: '',
      init: '',
      addresses: [],
      packageManager: undefined,
      clockSkewMs: 0,
      record: new Map(),
      extra: {},
    });
  });

  it("runs the phases' own snippets in the same command and hands back their output by name", () => {
    const facts = parseFacts(shRun(factsScript({ cgroup: 'echo v2', 'data-dir': 'echo one; echo two' })).stdout);
    expect(facts.extra).toEqual({ cgroup: 'v2', 'data-dir': 'one\ntwo' });
    expect(facts.os.id).not.toBe('');
  });

  it('measures the clock skew against the middle of the round trip', () => {
    const out = '\n@@kubestrap-section clock\n1700000045000000000\n';
    expect(parseFacts(out, { sentAt: 1_700_000_000_000, receivedAt: 1_700_000_000_100 }).clockSkewMs).toBe(44_950);
    // A host whose date lacks %N prints a literal N: no number, no claim.
    expect(parseFacts('\n@@kubestrap-section clock\n1700000045N\n', { sentAt: 1, receivedAt: 2 }).clockSkewMs).toBe(0);
    const here = Date.now();
    expect(Math.abs(parseFacts(shRun(FACTS_SCRIPT).stdout, { sentAt: here, receivedAt: Date.now() }).clockSkewMs)).toBeLessThan(5_000);
  });

  it("reads bash's EPOCHREALTIME (EL's sh) as well as date's nanoseconds (dash), with either decimal mark", () => {
    const timing = { sentAt: 1_700_000_000_000, receivedAt: 1_700_000_000_100 };
    expect(parseFacts('\n@@kubestrap-section clock\n1700000045.000000\n', timing).clockSkewMs).toBe(44_950);
    expect(parseFacts('\n@@kubestrap-section clock\n1700000045,500000\n', timing).clockSkewMs).toBe(45_450);
    const here = Date.now();
    for (const shell of ['bash', 'dash']) {
      expect(Math.abs(parseFacts(shRun(`${shell} -c '${FACTS_SCRIPT.replaceAll("'", "'\\''")}'`).stdout, { sentAt: here, receivedAt: Date.now() }).clockSkewMs), shell).toBeLessThan(5_000);
    }
  });

  it("takes each address from ip's one-line output", () => {
    const out = [
      '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
      '2: eth0    inet 10.88.49.11/24 brd 10.88.49.255 scope global eth0\\       valid_lft forever preferred_lft forever',
      '2: eth0    inet 10.88.49.100/32 scope global secondary eth0:vip\\       valid_lft forever preferred_lft forever',
    ].join('\n');
    expect(parseFacts(`\n@@kubestrap-section addresses\n${out}\n`).addresses).toEqual(['127.0.0.1', '10.88.49.11', '10.88.49.100']);
  });

  it('falls back to ID when os-release has no PRETTY_NAME', () => {
    const out = "\n@@kubestrap-section os-release\nID='arch'\nBUILD_ID=rolling\n";
    expect(parseFacts(out).os).toEqual({ id: 'arch', idLike: [], versionId: '', codename: '', prettyName: 'arch' });
  });

  it('FACTS_SCRIPT run for real on this machine reads its facts', () => {
    const facts = parseFacts(shRun(FACTS_SCRIPT).stdout);
    const osRelease = readFileSync('/etc/os-release', 'utf8');
    expect(facts.os.id).toBe(/^ID=(.*)$/m.exec(osRelease)![1]!.replace(/"/g, ''));
    expect(facts.os.id).toBe('debian');
    expect(facts.machine).toBe('x86_64');
    expect(facts.kernel).toBe(release());
    expect(facts.hostname).toBe(hostname());
    expect(facts.init).toBe(readFileSync('/proc/1/comm', 'utf8').trim());
    expect(facts.addresses).toContain('127.0.0.1');
    expect(facts.addresses.every((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a))).toBe(true);
    expect(facts.packageManager).toBe('apt');
  });
});
