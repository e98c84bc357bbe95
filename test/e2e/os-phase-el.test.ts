import { describe, expect, it } from 'vitest';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/** What the OS phase leaves on an EL host, in one line per fact. */
const EL_STATE = ['systemctl is-active firewalld || true', 'systemctl is-enabled firewalld || true', 'grep ^SELINUX= /etc/selinux/config', 'getenforce', 'iptables -S FORWARD | head -n 1'].join('; ');

describe.skipIf(!labAvailable())('apply --phase os on a mixed cluster: Rocky Linux 9, CentOS 7 and Debian 12 hosts', () => {
  const hosts = useLabHosts(3, { flavour: ['el9', 'el7', 'debian'] });
  const cluster = useLabCluster(hosts);
  const [el9, el7, debian] = [0, 1, 2];

  it('plans each host through its own adapter and shows which package manager each uses', async () => {
    const plan = await cluster.cli(['plan', '--phase', 'os', '--output', 'plain']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    const [a, b, c] = hosts.all();
    expect(plan.stdout).toContain(
      ['== hosts ==', `${a!.name} (${a!.address}): Rocky Linux 9.6 (dnf)`, `${b!.name} (${b!.address}): CentOS Linux 7 (yum)`, `${c!.name} (${c!.address}): Debian GNU/Linux 12 (apt)`].join('\n'),
    );
    const { report } = await cluster.json('plan', ['--phase', 'os']);
    expect(report.hosts.map((h) => h.system)).toEqual(['Rocky Linux 9.6 (dnf)', 'CentOS Linux 7 (yum)', 'Debian GNU/Linux 12 (apt)']);
    const summaries = report.results.map((r) => r.changes.map((ch) => ch.summary));
    expect(summaries[el9]).toContain('install package iptables-nft with dnf');
    expect(summaries[el7]).toContain('install package iptables with yum');
    expect(summaries[el9]).toContain('SELinux: permissive in /etc/selinux/config');
    // The Debian base has iptables already, and no SELinux to manage.
    expect(summaries[debian]!.filter((s) => /package|SELinux/.test(s))).toEqual([]);
  });

  it('converges all three in one run', async () => {
    const { run, report } = await cluster.json('apply', ['--phase', 'os']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.hosts.map((h) => h.status)).toEqual(['changed', 'changed', 'changed']);

    // Installed through dnf and yum for real: rpm's own database lists them.
    expect((await hosts.run(el9, 'rpm -q iptables-nft')).trim()).toMatch(/^iptables-nft-1\.8\.9-.*\.x86_64$/);
    expect((await hosts.run(el7, 'rpm -q iptables')).trim()).toMatch(/^iptables-1\.8\.9-.*\.x86_64$/);
    expect(await hosts.run(el9, 'rpm -qa')).toMatch(/^iptables-nft-/m);
    for (const i of [el9, el7]) {
      expect((await hosts.run(i, EL_STATE)).trim().split('\n')).toEqual(['inactive', 'disabled', 'SELINUX=permissive', 'Disabled', '-P FORWARD ACCEPT']);
    }
    expect((await hosts.run(debian, 'systemctl is-enabled firewalld || true; command -v rpm || echo no-rpm')).trim().split('\n')).toEqual(['disabled', 'no-rpm']);
  });

  it('changes nothing on a second apply, and plans nothing after it', async () => {
    const apply = await cluster.json('apply', ['--phase', 'os']);
    expect(apply.run.code).toBe(0);
    expect(apply.report.results.map((r) => [r.host, r.status, r.changes.length])).toEqual(hosts.all().map((h) => [h.name, 'ok', 0]));
    const plan = await cluster.json('plan', ['--phase', 'os']);
    expect(plan.report.results.every((r) => r.status === 'ok' && r.changes.length === 0)).toBe(true);
    expect(plan.report.hosts.map((h) => h.roundTrips)).toEqual(hosts.all().map(() => ({ handshakes: 1, execs: 2, sftpOps: 0 })));
  });
});

describe.skipIf(!labAvailable())('a package missing from the RPM repo', () => {
  const hosts = useLabHosts(2, { flavour: ['el9', 'el7'] });
  const cluster = useLabCluster(hosts);

  it("fails that host with dnf's error, the repo and the package named, and the other host carries on", async () => {
    // The el9 host's only repository is now one without iptables-nft (the docker-ce repo).
    const dockerCe = hosts.lab.rpm!.dockerCeUrl;
    await hosts.run(0, `sed -i 's#^baseurl=.*#baseurl=${dockerCe}#' /etc/yum.repos.d/kubestrap-lab.repo`);

    const { run, report } = await cluster.json('apply', ['--phase', 'os']);
    expect(run.code).toBe(1);
    expect(report.hosts.map((h) => h.status)).toEqual(['failed', 'changed']);
    const error = report.results[0]!.error!;
    expect(error.message).toBe('install package iptables-nft with dnf: failed');
    expect(error.details?.command).toBe('dnf install -y -q iptables-nft');
    expect(error.details?.stderrTail).toContain('Error: Unable to find a match: iptables-nft');
    expect(error.details?.stderrTail).toContain(`dnf exited 1; not installed: iptables-nft\nrepositories enabled on this host (/etc/yum.repos.d):\n  kubestrap-lab: ${dockerCe}`);
    expect(error.hint).toContain('make the packages available in one of the repositories listed');
    expect((await hosts.exec(0, 'rpm -q iptables-nft')).code).not.toBe(0);

    // The other host converged in the same run.
    expect(report.results[1]!.status).toBe('changed');
    expect((await hosts.run(1, 'rpm -q iptables; systemctl is-enabled firewalld || true')).trim().split('\n')[1]).toBe('disabled');

    // The text report says the same, for people.
    const text = await cluster.cli(['apply', '--phase', 'os', '--output', 'plain']);
    expect(text.stdout).toContain('Error: Unable to find a match: iptables-nft');
    expect(text.stdout).toContain(`kubestrap-lab: ${dockerCe}`);
  });
});
