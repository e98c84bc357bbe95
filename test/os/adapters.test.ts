import { describe, expect, it } from 'vitest';
import type { GenericPackage } from '../../src/os/adapter.js';
import { debianAdapter } from '../../src/os/debian.js';
import { elAdapter, yumRepoFile } from '../../src/os/el.js';
import { useTempDir, writeTree } from '../support/tmp.js';
import { diffOf, elCtx, fakeTools, shRun } from '../engine/support.js';

const GENERIC: GenericPackage[] = ['iptables', 'conntrack', 'socat', 'ipset', 'ebtables', 'curl'];

const LAB_REPOS = {
  'lab.repo': '[lab]\nname=lab\nbaseurl=http://10.88.5.1:8000/el/$releasever/os/$basearch\ngpgcheck=1\n\n[off]\nname=off\nenabled=0\nbaseurl=http://elsewhere/\n',
  'docker-ce.repo': '[docker-ce-stable]\nname=Docker CE\nenabled = True\nmirrorlist=http://mirrors/docker\n',
  'notes.txt': '[ignored]\nbaseurl=http://not-a-repo-file/\n',
};

describe('OS adapters', () => {
  it('map generic package names per family and EL release', () => {
    const names = (a: ReturnType<typeof elAdapter> | typeof debianAdapter) => GENERIC.map((g) => a.packageNames(g).join(' '));
    expect(names(debianAdapter)).toEqual(['iptables', 'conntrack', 'socat', 'ipset', 'ebtables', 'curl']);
    expect(names(elAdapter(7, 'yum'))).toEqual(['iptables', 'conntrack-tools', 'socat', 'ipset', 'ebtables', 'curl']);
    expect(names(elAdapter(8, 'dnf'))).toEqual(['iptables', 'conntrack-tools', 'socat', 'ipset', 'iptables-ebtables', 'curl']);
    expect(names(elAdapter(9, 'dnf'))).toEqual(['iptables-nft', 'conntrack-tools', 'socat', 'ipset', 'iptables-nft', 'curl']);
    expect(names(elAdapter(10, 'dnf'))).toEqual(['iptables-nft', 'conntrack-tools', 'socat', 'ipset', 'iptables-nft', 'curl']);
  });

  it('name their package manager, their firewalls and whether SELinux is theirs', () => {
    expect(elAdapter(7, 'yum')).toMatchObject({ family: 'el', packageManager: 'yum', firewallServices: ['firewalld'], managesSelinux: true });
    expect(elAdapter(9, 'dnf')).toMatchObject({ family: 'el', packageManager: 'dnf' });
    expect(debianAdapter).toMatchObject({ family: 'debian', packageManager: 'apt', firewallServices: ['ufw', 'firewalld'], managesSelinux: false });
  });

  it('install with their package manager, never prompting; the first line is the install itself', () => {
    expect(elAdapter(7, 'yum').installPackages(['conntrack-tools', 'socat']).split('\n')[0]).toBe('yum install -y -q conntrack-tools socat');
    expect(elAdapter(9, 'dnf').installPackages(['iptables-nft']).split('\n')[0]).toBe('dnf install -y -q iptables-nft');
    const apt = debianAdapter.installPackages(['socat']);
    expect(apt).toBe(
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold socat' +
        ' || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold socat; }',
    );
  });

  it('name the file that defines a package repository, and refuse names that are not one word', () => {
    expect(elAdapter(9, 'dnf').repoFilePath('docker-ce')).toBe('/etc/yum.repos.d/docker-ce.repo');
    expect(debianAdapter.repoFilePath('docker')).toBe('/etc/apt/sources.list.d/docker.list');
    expect(() => elAdapter(7, 'yum').repoFilePath('../passwd')).toThrow("'../passwd' is not a usable repository name");
  });

  it('write a .repo file that always checks signatures', () => {
    expect(
      yumRepoFile({
        id: 'docker-ce-stable',
        name: 'Docker CE Stable',
        baseUrl: 'https://download.docker.com/linux/centos/$releasever/$basearch/stable',
        gpgKey: 'https://download.docker.com/linux/centos/gpg',
      }),
    ).toBe(
      [
        '[docker-ce-stable]',
        'name=Docker CE Stable',
        'baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable',
        'enabled=1',
        'gpgcheck=1',
        'gpgkey=https://download.docker.com/linux/centos/gpg',
        '',
      ].join('\n'),
    );
  });

  describe('Debian package probe, run for real with dpkg-query', () => {
    it('prints installed packages only, and the package kind reads it the same way', () => {
      const names = ['bash', 'definitely-not-a-package'];
      const run = shRun(debianAdapter.probePackages(names));
      expect(run.stdout).toBe('bash ii\n');
      expect(run.stderr).toBe('');
      const change = diffOf({ kind: 'package', names }, run.stdout.trim());
      expect(change?.summary).toBe('install package definitely-not-a-package with apt');
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
      const run = shRun(elAdapter(9, 'dnf').probePackages(names), env);
      expect(run.stdout).toBe('iptables ii\nsocat ii\n');
      expect(diffOf({ kind: 'package', names }, run.stdout.trim(), elCtx)?.summary).toBe('install package conntrack-tools with dnf');
    });
  });

  describe('EL install, run for real against a fake package manager and rpm', () => {
    const tmp = useTempDir();
    /**
     * A host whose rpm knows the packages listed in $dir/installed, whose package manager runs
     * `managerBody`, and whose .repo files are `repos` (the script's path to them is redirected).
     */
    const host = (manager: 'yum' | 'dnf', managerBody: string, repos: Record<string, string> = LAB_REPOS) => {
      const dir = tmp();
      writeTree(dir, { installed: '', ...Object.fromEntries(Object.entries(repos).map(([f, text]) => [`yum.repos.d/${f}`, text])) });
      const env = fakeTools(dir, {
        rpm: `[ "$1 $2" = "-q --whatprovides" ] && grep -qx "$3" ${dir}/installed`,
        [manager]: managerBody.replaceAll('DIR', dir),
      });
      const script = (names: string[]) =>
        elAdapter(manager === 'yum' ? 7 : 9, manager)
          .installPackages(names)
          .replace('cat /etc/yum.repos.d/', `cat ${dir}/yum.repos.d/`);
      return (names: string[]) => shRun(script(names), env);
    };

    it('succeeds when every package is installed afterwards', () => {
      const install = host('dnf', 'shift 3; for p; do echo "$p" >> DIR/installed; done');
      expect(install(['iptables-nft', 'socat'])).toMatchObject({ code: 0, stdout: '' });
    });

    it("fails with dnf's error, the packages not installed and the repositories enabled", () => {
      const install = host('dnf', 'echo "No match for argument: etcd" >&2; echo "Error: Unable to find a match: etcd" >&2; exit 1');
      const run = install(['etcd', 'socat']);
      expect(run.code).toBe(1);
      expect(run.stderr + run.stdout).toBe(
        [
          'No match for argument: etcd',
          'Error: Unable to find a match: etcd',
          'dnf exited 1; not installed: etcd socat',
          'repositories enabled on this host (/etc/yum.repos.d):',
          '  docker-ce-stable: http://mirrors/docker',
          '  lab: http://10.88.5.1:8000/el/$releasever/os/$basearch',
          '',
        ].join('\n'),
      );
    });

    it("fails when EL 7's yum skips a name it cannot find and exits 0", () => {
      const install = host('yum', 'echo "No package etcd available."; echo socat >> DIR/installed; exit 0');
      const run = install(['socat', 'etcd']);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('No package etcd available.\nyum exited 0; not installed: etcd\n');
    });

    it('says so when the host has no repository enabled', () => {
      const install = host('yum', 'exit 1', { 'off.repo': '[off]\nenabled=0\nbaseurl=http://x/\n' });
      expect(install(['socat']).stdout).toBe('yum exited 1; not installed: socat\nrepositories enabled on this host (/etc/yum.repos.d):\n  none\n');
    });
  });
});
