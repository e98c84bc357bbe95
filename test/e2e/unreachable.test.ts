import { describe, expect, it } from 'vitest';
import { startHost, stopHost } from '../lab/index.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

describe.skipIf(!labAvailable())('a host that is down', () => {
  const hosts = useLabHosts(3);
  const cluster = useLabCluster(hosts);

  it('is reported unreachable while the others converge, and the run fails', async () => {
    await stopHost(hosts.lab.name, hosts.host(2).name);
    const { run, report } = await cluster.json('apply', ['--phase', 'os', '--connect-timeout', '2']);
    expect(run.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.hosts.map((h) => h.status)).toEqual(['changed', 'changed', 'unreachable']);
    expect(report.hosts[2]!.error).toMatchObject({ kind: 'ssh', where: `${hosts.host(2).name} [connect]` });
    expect(report.results.map((r) => r.host)).toEqual([hosts.host(0).name, hosts.host(1).name]);
    expect((await hosts.run(1, 'systemctl is-enabled firewalld || true')).trim()).toBe('disabled');
  });

  it('converges when it is back, without touching the others again', async () => {
    await startHost(hosts.lab.name, hosts.host(2).name);
    const { run, report } = await cluster.json('apply', ['--phase', 'os']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'changed']);
    expect((await hosts.run(2, 'systemctl is-enabled firewalld || true')).trim()).toBe('disabled');
  });
});
