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

    it('asks rpm what provides each name (EL9 ships iptables as iptables-nft) and keeps those found', () => {
      // rpm -q --whatprovides NAME: the providing package and exit 0, or "no package provides" and exit 1.
      const env = fakeTools(tmp(), {
        rpm: '[ "$1 $2" = "-q --whatprovides" ] || exit 9; case $3 in iptables) echo iptables-nft-1.8.8-4.el9.x86_64;; socat) echo socat-1.7.4;; *) echo "no package provides $3"; exit 1;; esac',
      });
      const names = ['iptables', 'conntrack-tools', 'socat'];
      const run = shRun(elAdapter('dnf').probePackages(names), env);
      expect(run.stdout).toBe('iptables ii\nsocat ii\n');
      expect(diffOf({ kind: 'package', names }, run.stdout.trim())?.summary).toBe('install package conntrack-tools');
    });
  });
});
