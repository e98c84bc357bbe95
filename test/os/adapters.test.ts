import { describe, expect, it } from 'vitest';
import type { GenericPackage } from '../../src/os/adapter.js';
import { debianAdapter } from '../../src/os/debian.js';
import { elAdapter } from '../../src/os/el.js';
import { useTempDir } from '../support/tmp.js';
import { diffOf, fakeTools, shRun } from '../engine/support.js';

const GENERIC: GenericPackage[] = ['iptables', 'conntrack', 'socat', 'ipset', 'ebtables', 'curl'];

describe('OS adapters', () => {
  it('map generic package names per family', () => {
    const el = elAdapter('dnf');
    expect(el.packageNames('conntrack')).toEqual(['conntrack-tools']);
    expect(debianAdapter.packageNames('conntrack')).toEqual(['conntrack']);
    for (const g of GENERIC.filter((p) => p !== 'conntrack')) {
      expect(el.packageNames(g)).toEqual([g]);
      expect(debianAdapter.packageNames(g)).toEqual([g]);
    }
  });

  it('name their firewalls and whether SELinux is theirs', () => {
    expect(elAdapter('yum')).toMatchObject({ family: 'el', firewallServices: ['firewalld'], managesSelinux: true });
    expect(debianAdapter).toMatchObject({ family: 'debian', firewallServices: ['ufw', 'firewalld'], managesSelinux: false });
  });

  it('install with their package manager, never prompting', () => {
    expect(elAdapter('yum').installPackages(['conntrack-tools', 'socat'])).toBe('yum install -y -q conntrack-tools socat');
    const apt = debianAdapter.installPackages(['socat']);
    expect(apt).toBe(
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold socat' +
        ' || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold socat; }',
    );
  });

  describe('Debian package probe, run for real with dpkg-query', () => {
    it('prints installed packages only, and the package kind reads it the same way', () => {
      const names = ['bash', 'definitely-not-a-package'];
      const run = shRun(debianAdapter.probePackages(names));
      expect(run.stdout).toBe('bash ii\n');
      expect(run.stderr).toBe('');
      const change = diffOf({ kind: 'package', names }, run.stdout.trim());
      expect(change?.summary).toBe('install package definitely-not-a-package');
    });
  });

  describe('EL package probe, run for real against a fake rpm', () => {
    const tmp = useTempDir();

    it('keeps the packages rpm knows and drops its "is not installed" lines', () => {
      // rpm -q prints one line per name, on stdout, installed or not; exit code = number missing.
      const env = fakeTools(tmp(), {
        rpm: 'shift 3; n=0; for p; do case $p in iptables|socat) echo "$p ii";; *) echo "package $p is not installed"; n=$((n+1));; esac; done; exit $n',
      });
      const names = ['iptables', 'conntrack-tools', 'socat'];
      const run = shRun(elAdapter('dnf').probePackages(names), env);
      expect(run.stdout).toBe('iptables ii\nsocat ii\n');
      expect(diffOf({ kind: 'package', names }, run.stdout.trim())?.summary).toBe('install package conntrack-tools');
    });
  });
});
