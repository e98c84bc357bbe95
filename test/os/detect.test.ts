import { describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { detectOs } from '../../src/os/detect.js';
import { factsFor, type FakeHost, type OsName } from './os-releases.js';

const SUPPORTED_HINT = 'kubestrap supports CentOS/RHEL/Rocky/Alma/Oracle Linux 7-10, Debian 11 or later, Ubuntu 20.04 or later, on x86_64 or aarch64, with systemd';

function refusal(os: OsName, host: FakeHost = {}): HostError {
  try {
    detectOs('node1', factsFor(os, host));
  } catch (err) {
    if (err instanceof HostError) return err;
    throw err;
  }
  throw new Error(`${os} was accepted`);
}

describe('detectOs', () => {
  it.each([
    ['centos7', 'el', 'yum install -y -q socat', 'CentOS Linux 7 (yum)', 'iptables'],
    ['rocky93', 'el', 'dnf install -y -q socat', 'Rocky Linux 9.3 (dnf)', 'iptables-nft'],
    ['alma8', 'el', 'dnf install -y -q socat', 'AlmaLinux 8.9 (dnf)', 'iptables'],
    ['rhel9', 'el', 'dnf install -y -q socat', 'Red Hat Enterprise Linux 9.4 (dnf)', 'iptables-nft'],
    ['debian12', 'debian', 'apt-get install', 'Debian GNU/Linux 12 (apt)', 'iptables'],
    ['ubuntu2204', 'debian', 'apt-get install', 'Ubuntu 22.04.4 LTS (apt)', 'iptables'],
    // The current releases (2025-2026): cgroup v2 only; EL 10 without legacy iptables.
    ['debian13', 'debian', 'apt-get install', 'Debian GNU/Linux 13 (apt)', 'iptables'],
    ['ubuntu2404', 'debian', 'apt-get install', 'Ubuntu 24.04.3 LTS (apt)', 'iptables'],
    ['ubuntu2604', 'debian', 'apt-get install', 'Ubuntu 26.04 LTS (apt)', 'iptables'],
    ['rocky10', 'el', 'dnf install -y -q socat', 'Rocky Linux 10.0 (dnf)', 'iptables-nft'],
    ['alma10', 'el', 'dnf install -y -q socat', 'AlmaLinux 10.0 (dnf)', 'iptables-nft'],
  ] as const)('manages %s with the %s adapter', (os, family, install, label, iptables) => {
    const detected = detectOs('node1', factsFor(os));
    const { adapter, arch } = detected;
    expect(adapter.family).toBe(family);
    expect(arch).toBe('amd64');
    expect(adapter.installPackages(['socat'])).toContain(install);
    expect(adapter.managesSelinux).toBe(family === 'el');
    expect(detected.label).toBe(label);
    expect(adapter.packageNames('iptables')).toEqual([iptables]);
  });

  it('takes dnf on an EL 7 host that has it (EPEL ships dnf for EL 7), since yum is what it replaces', () => {
    expect(detectOs('node1', factsFor('centos7', { packageManager: 'dnf' })).label).toBe('CentOS Linux 7 (dnf)');
  });

  it('maps aarch64 to arm64', () => {
    expect(detectOs('node1', factsFor('rocky93', { machine: 'aarch64' })).arch).toBe('arm64');
  });

  it('refuses other architectures, naming the machine and what is supported', () => {
    const err = refusal('rocky93', { machine: 'ppc64le' });
    expect(err.message).toBe('architecture ppc64le is not supported');
    expect(err.where()).toBe('node1');
    expect(err.hint).toBe(SUPPORTED_HINT);
    expect(refusal('debian12', { machine: '' }).message).toBe('architecture unknown is not supported');
  });

  it('refuses a host whose PID 1 is not systemd', () => {
    const err = refusal('debian12', { init: 'init' });
    expect(err.message).toBe('PID 1 is init, not systemd');
    expect(err.hint).toBe(SUPPORTED_HINT);
  });

  it.each([
    ['alpine', 'Alpine Linux v3.19 is not supported'],
    ['fedora40', 'Fedora Linux 40 (Server Edition) is not supported'],
    ['debianSid', 'Debian GNU/Linux trixie/sid is not supported'],
  ] as const)('refuses %s', (os, message) => {
    const err = refusal(os);
    expect(err).toBeInstanceOf(HostError);
    expect(err.message).toBe(message);
    expect(err.hint).toBe(SUPPORTED_HINT);
  });

  it("reads the release's codename (Docker's apt repository names its suites by it)", () => {
    expect(factsFor('debian13').os.codename).toBe('trixie');
    expect(factsFor('ubuntu2604').os.codename).toBe('resolute');
    expect(factsFor('rocky10').os.codename).toBe('');
  });

  it('refuses an EL host without dnf or yum', () => {
    expect(refusal('rhel9', { packageManager: '' }).message).toBe('Red Hat Enterprise Linux 9.4 (Plow) has neither dnf nor yum');
  });

  it('refuses an EL major it does not know', () => {
    const facts = factsFor('rocky93');
    expect(() => detectOs('node1', { ...facts, os: { ...facts.os, versionId: '11.0', prettyName: 'Rocky Linux 11.0' } })).toThrow('Rocky Linux 11.0 is not supported');
    expect(() => detectOs('node1', { ...facts, os: { ...facts.os, id: 'amzn', idLike: ['centos', 'rhel', 'fedora'], versionId: '2', prettyName: 'Amazon Linux 2' } })).toThrow(
      'Amazon Linux 2 is not supported',
    );
  });

  it('refuses Debian 10 and Ubuntu 18.04', () => {
    const debian = factsFor('debian12');
    expect(() => detectOs('n', { ...debian, os: { ...debian.os, versionId: '10', prettyName: 'Debian GNU/Linux 10 (buster)' } })).toThrow('Debian GNU/Linux 10 (buster) is not supported');
    const ubuntu = factsFor('ubuntu2204');
    expect(() => detectOs('n', { ...ubuntu, os: { ...ubuntu.os, versionId: '18.04', prettyName: 'Ubuntu 18.04.6 LTS' } })).toThrow('Ubuntu 18.04.6 LTS is not supported');
  });
});
