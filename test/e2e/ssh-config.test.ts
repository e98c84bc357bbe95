import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorsOf, useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * An inventory that names its hosts only by SSH aliases, the way an operator's ~/.ssh/config already
 * knows them: addresses, user and key come from an ssh_config file (given with -F, the machine's own
 * ~/.ssh/config is never touched), and the worker is reached only through ProxyJump via the master.
 */

interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
}

describe.skipIf(!labAvailable())('ssh_config: a cluster from SSH aliases', () => {
  const hosts = useLabHosts(2, { prefix: 'sshcfg' });
  const cluster = useLabCluster(hosts, { layout: (i) => (i === 0 ? ['etcd', 'master', 'worker'] : ['worker']), properties: { VERIFY_PODS: 'false' } });
  const sshConfig = join(cluster.dir, 'ssh_config');
  const names = () => hosts.all().map((h) => h.name);

  // Registered after useLabCluster's own beforeAll, so these files replace the inventory it wrote.
  beforeAll(() => {
    const [master, worker] = hosts.all();
    const lab = hosts.lab;
    // What every lab host shares sits in an included file, reached by a glob: Include, Host * and
    // IdentitiesOnly are part of what is under test.
    mkdirSync(join(cluster.dir, 'ssh_config.d'));
    writeFileSync(join(cluster.dir, 'ssh_config.d', 'lab.conf'), ['Host *', '  User root', `  IdentityFile ${resolve(lab.sshKey)}`, '  IdentitiesOnly yes', ''].join('\n'));
    writeFileSync(
      sshConfig,
      [
        `Include ${join(cluster.dir, 'ssh_config.d')}/*.conf`,
        `Host ${master!.name}`,
        `  HostName ${master!.address}`,
        `Host ${worker!.name}`,
        `  HostName ${worker!.address}`,
        `  ProxyJump ${master!.name}`,
        '',
      ].join('\n'),
    );
    // No address, no user, no key: the aliases alone. known_hosts stays kubestrap's own (the lab's).
    writeFileSync(
      cluster.inventory,
      [
        `cluster: ${lab.name}`,
        'ssh:',
        `  knownHosts: ${resolve(lab.knownHosts)}`,
        'hosts:',
        `  - name: ${master!.name}`,
        '    roles: [etcd, master, worker]',
        `  - name: ${worker!.name}`,
        '    roles: [worker]',
        '',
      ].join('\n'),
    );
  });

  it('--no-ssh-config refuses the alias-only inventory, naming each host and the fix, before anything changes', async () => {
    const run = await cluster.cli(['init', '--yes', '--no-ssh-config']);
    expect(run.code, run.stderr).toBe(2);
    for (const name of names()) {
      expect(run.stderr).toContain(`host "${name}" has no address, and --no-ssh-config leaves ssh_config unread`);
      expect(run.stderr).toContain(`drop --no-ssh-config to take the HostName of "Host ${name}"`);
    }
    expect(existsSync(join(cluster.dir, '.kubestrap')), 'no local state was made').toBe(false);
    for (const i of [0, 1]) expect((await hosts.exec(i, 'test -e /var/lib/kubestrap')).code, `${names()[i]} has no host record`).not.toBe(0);
  });

  it('init -F brings the cluster up, the worker reached through the master as ProxyJump says', async () => {
    // The lab logged in from the controller to see the host up (before this test): only this run's logins count.
    const since = (Date.now() / 1000).toFixed(3);
    const { run, report } = await cluster.json('init', ['--yes', '-F', sshConfig]);
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    expect(report.hosts.map((h) => h.host)).toEqual(names());
    // On the worker itself: its sshd let kubestrap in from the master's address, never from the controller's.
    const [master] = hosts.all();
    const logins = await hosts.run(1, `journalctl --no-pager -o cat --since @${since} _COMM=sshd | grep "Accepted publickey for root" || true`);
    expect(logins).toContain(`from ${master!.address} `);
    expect(logins).not.toContain(`from ${hosts.lab.gateway} `);
  });

  it('health -F finds every node Ready under its alias', async () => {
    const run = await cluster.cli(['health', '--output', 'json', '-F', sshConfig]);
    const rows = (JSON.parse(run.stdout) as { checks: HealthRow[] }).checks;
    expect(
      rows.filter((r) => !r.ok),
      run.stderr,
    ).toEqual([]);
    expect(
      rows
        .filter((r) => r.check === 'node Ready')
        .map((r) => r.host)
        .sort(),
    ).toEqual([...names()].sort());
  });
});
