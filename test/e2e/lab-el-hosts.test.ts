import { describe, expect, it } from 'vitest';
import { startHost, stopHost } from '../lab/index.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * The lab's EL hosts: Debian underneath, but every command kubestrap's EL adapter sends (rpm, dnf or
 * yum, getenforce, systemctl on firewalld) is the real tool, against the lab's real, signed RPM repos.
 */
describe.skipIf(!labAvailable())('lab EL hosts (el7, el9)', () => {
  const hosts = useLabHosts(2, { flavour: ['el7', 'el9'] });
  const [el7, el9] = [0, 1];

  it('carry their flavour in the lab API', () => {
    expect(hosts.all().map((h) => h.flavour)).toEqual(['el7', 'el9']);
    expect(hosts.lab.rpm?.dockerCeUrl).toBe(`http://${hosts.lab.gateway}:8000/el/docker-ce/$releasever/$basearch/stable`);
  });

  it('present themselves as CentOS 7 and Rocky Linux 9, from release packages in the rpm database', async () => {
    const identity = (i: number) => hosts.run(i, '. /etc/os-release; echo "$ID $VERSION_ID"; cat /etc/redhat-release; rpm -q --whatprovides "system-release(releasever)"');
    expect((await identity(el7)).split('\n').slice(0, 3)).toEqual(['centos 7', 'CentOS Linux release 7.9.2009 (Core)', 'centos-release-7-9.2009.1.el7.centos.noarch']);
    expect((await identity(el9)).split('\n').slice(0, 3)).toEqual(['rocky 9.6', 'Rocky Linux release 9.6 (Blue Onyx)', 'rocky-release-9.6-1.2.el9.noarch']);
  });

  it('have yum only on el7, and dnf with yum pointing at it on el9', async () => {
    expect((await hosts.exec(el7, 'command -v dnf')).code).not.toBe(0);
    expect((await hosts.run(el7, 'command -v yum')).trim()).toBe('/usr/bin/yum');
    expect((await hosts.run(el9, 'command -v dnf; readlink /usr/bin/yum')).trim().split('\n')).toEqual(['/usr/bin/dnf', 'dnf-3']);
  });

  it('start like a fresh EL server: firewalld running, SELinux enforcing in its config (disabled by this kernel), no apt source, only the lab repo', async () => {
    for (const i of [el7, el9]) {
      const state = await hosts.run(
        i,
        'systemctl is-active firewalld; grep ^SELINUX= /etc/selinux/config; getenforce; ls /etc/apt/sources.list.d | wc -l; ls /etc/yum.repos.d; grep -h ^baseurl /etc/yum.repos.d/*.repo',
      );
      expect(state.trim().split('\n')).toEqual(['active', 'SELINUX=enforcing', 'Disabled', '0', 'kubestrap-lab.repo', `baseurl=http://${hosts.lab.gateway}:8000/el/$releasever/os/$basearch`]);
    }
  });

  it('install for real: signed packages under EL names, listed by rpm -q and rpm -qa', async () => {
    const install = await hosts.exec(el9, 'dnf install -y -q conntrack-tools socat ipset; echo rc=$?; rpm -q conntrack-tools ipset-libs; rpm -qa | sort');
    expect(install.stdout).toContain('rc=0');
    expect(install.stdout).toMatch(/^conntrack-tools-1\.4\.7-.*\.x86_64\nipset-libs-7\.17-.*\.x86_64$/m);
    expect(install.stdout).toMatch(/^gpg-pubkey-/m);
    expect(install.stdout).toMatch(/^socat-/m);
    // The package's files are on disk and run.
    expect(await hosts.run(el9, 'socat -V | head -n 2')).toMatch(/socat version 1\.7/);
  });

  it('serve docker-ce at the URL a .repo file takes, and the installed docker runs', async () => {
    const repo = ['[docker-ce-stable]', 'name=Docker CE Stable - $basearch', `baseurl=${hosts.lab.rpm!.dockerCeUrl}`, 'enabled=1', 'gpgcheck=1', `gpgkey=${hosts.lab.rpm!.gpgKeyUrl}`].join('\n');
    await hosts.run(el7, `printf '%s\\n' '${repo}' > /etc/yum.repos.d/docker-ce.repo`);
    const install = await hosts.exec(el7, 'yum install -y -q docker-ce; echo rc=$?; rpm -q docker-ce docker-ce-cli containerd.io iptables');
    expect(install.stdout, install.stderr).toContain('rc=0');
    expect(install.stdout).toMatch(/^docker-ce-20\.10.*\ndocker-ce-cli-20\.10.*\ncontainerd\.io-1\.6.*\niptables-1\.8.*$/m);
    // As on EL, installing starts nothing; the package made the group docker.socket needs.
    expect((await hosts.run(el7, 'systemctl is-enabled docker || true; getent group docker | cut -d: -f1')).trim().split('\n')).toEqual(['disabled', 'docker']);
    await hosts.run(el7, 'systemctl start docker');
    expect((await hosts.run(el7, "docker info --format '{{.ServerVersion}}'")).trim()).toMatch(/^20\.10\./);
  });

  it('keep their layers and their disk across a stop and start', async () => {
    await stopHost(hosts.lab.name, hosts.host(el7).name);
    await startHost(hosts.lab.name, hosts.host(el7).name);
    expect((await hosts.run(el7, 'cat /etc/redhat-release; command -v yum; rpm -q docker-ce >/dev/null && echo docker-ce kept')).trim().split('\n')).toEqual([
      'CentOS Linux release 7.9.2009 (Core)',
      '/usr/bin/yum',
      'docker-ce kept',
    ]);
  });

  it('refuse a package whose signature the host cannot check', async () => {
    await hosts.run(el9, "sed -i 's#^gpgkey=.*#gpgkey=file:///nonexistent#' /etc/yum.repos.d/kubestrap-lab.repo; rpm -e gpg-pubkey");
    const r = await hosts.exec(el9, 'dnf install -y -q ethtool');
    expect(r.code).not.toBe(0);
    expect((await hosts.exec(el9, 'rpm -q ethtool')).code).not.toBe(0);
  });
});
