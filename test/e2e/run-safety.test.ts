import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPSPW_PASSWORD } from '../lab/index.js';
import { runCli } from '../support/cli.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

describe.skipIf(!labAvailable())('one run per cluster', () => {
  const hosts = useLabHosts(1);
  const cluster = useLabCluster(hosts);

  it('refuses a second run while one holds the lock, naming the holder', async () => {
    const lockFile = join(cluster.dir, '.kubestrap', hosts.lab.name, 'lock');
    // The first run (plan) creates the state folder; then a run in another process holds the lock.
    expect((await cluster.cli(['plan'])).code).toBe(0);
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(process.cwd(), 'src/state/lock.ts')}').then((m) => { m.acquireLock(${JSON.stringify(lockFile)}, 'bootstrap apply'); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
      });
      const refused = await cluster.cli(['apply', '--phase', 'os']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`the cluster is locked by pid ${holder.pid} (bootstrap apply, user root`);
      expect((await hosts.run(0, 'systemctl is-active firewalld')).trim()).toBe('active');
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // The holder died without releasing: its lock is stale and the next run takes it over.
    expect(existsSync(lockFile)).toBe(true);
    const after = await cluster.cli(['apply', '--phase', 'os']);
    expect(after.code, after.stderr).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
  });

  it('writes a debug log per run without secrets', async () => {
    const logs = join(cluster.dir, '.kubestrap', hosts.lab.name, 'logs');
    const run = await cluster.cli(['plan']);
    const file = /debug log: (\S+)/.exec(run.stderr)?.[1];
    expect(file?.startsWith(logs)).toBe(true);
    const events = readFileSync(file!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; kind?: string });
    expect(events[0]!.event).toBe('start');
    expect(events.at(-1)!.event).toBe('end');
    expect(events.some((e) => e.event === 'ssh' && e.kind === 'exec')).toBe(true);
  });

  it('ends with the verdict, the total and each stage on the wall clock, after the report', async () => {
    const run = await cluster.cli(['plan', '--phase', 'os']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(/^done in \d+\.\ds — connect \d+\.\ds · os \d+\.\ds$/);
  });
});

describe.skipIf(!labAvailable())('a login user that is not root', () => {
  const hosts = useLabHosts(2);
  const sudo = useLabCluster(hosts, { sshUser: 'ops' });

  it('converges through passwordless sudo, files included', async () => {
    const { run, report } = await sudo.json('apply', ['--phase', 'os']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.hosts.map((h) => h.status)).toEqual(['changed', 'changed']);
    expect(await hosts.run(0, 'stat -c "%a %U:%G" /etc/sysctl.d/k8s.conf')).toBe('644 root:root\n');
    expect((await sudo.json('apply', ['--phase', 'os'])).report.hosts.map((h) => h.status)).toEqual(['ok', 'ok']);
  });

  it('uses a sudo password from the environment, and says which variable is missing', async () => {
    // The same hosts, logged into as opspw, whose sudo asks for a password.
    const inventory = join(sudo.dir, 'inventory-opspw.yaml');
    writeFileSync(inventory, readFileSync(sudo.inventory, 'utf8').replace('user: ops', 'user: opspw\n  sudoPasswordEnv: KUBESTRAP_E2E_SUDO'));
    const apply = () => runCli(['apply', '--phase', 'os', '--output', 'json', '-i', inventory, '-c', sudo.config]);

    delete process.env.KUBESTRAP_E2E_SUDO;
    const missing = await apply();
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('KUBESTRAP_E2E_SUDO');

    process.env.KUBESTRAP_E2E_SUDO = OPSPW_PASSWORD;
    try {
      await hosts.run(1, 'rm /etc/modules-load.d/k8s.conf');
      const ok = await apply();
      expect(ok.code, ok.stdout).toBe(0);
      expect(ok.stdout + ok.stderr).not.toContain(OPSPW_PASSWORD);
      expect(await hosts.run(1, 'cat /etc/modules-load.d/k8s.conf')).toContain('br_netfilter');
    } finally {
      delete process.env.KUBESTRAP_E2E_SUDO;
    }
  });
});
