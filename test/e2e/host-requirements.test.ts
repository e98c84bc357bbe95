import { beforeAll, describe, expect, it } from 'vitest';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * What kubestrap needs on a host, on minimal hosts as a new user has them: without curl (its
 * package purged, as on a minimal install; the lab's repository still offers it), `init` used to
 * wait out every readiness check and fail; now the OS phase installs curl first and the cluster
 * comes up. And the lab's kernel, which has no ip_vs, is refused kube-proxy's ipvs mode before
 * anything changes.
 */
describe.skipIf(!labAvailable())('minimal hosts: no curl, no ip_vs', () => {
  const hosts = useLabHosts(2, { firewalld: false, prefix: 'nc' });
  const cluster = useLabCluster(hosts);

  beforeAll(async () => {
    for (const [i] of hosts.all().entries()) {
      await hosts.run(i, 'DEBIAN_FRONTEND=noninteractive dpkg --purge curl');
      expect((await hosts.exec(i, 'command -v curl')).code).not.toBe(0);
    }
  });

  it("refuses KUBE_PROXY_MODE=ipvs before anything changes: the lab's kernel cannot load ip_vs", async () => {
    cluster.setProperty('KUBE_PROXY_MODE', 'ipvs');
    try {
      const { run, report } = await cluster.json('plan');
      expect(run.code).toBe(2);
      expect(report.refused).toEqual([
        expect.objectContaining({
          where: `${hosts.host(1).name} KUBE_PROXY_MODE`,
          message: expect.stringMatching(
            /^kube-proxy's ipvs mode needs the kernel modules ip_vs, .* which kernel \S+ cannot load: neither loaded, built in, nor a module file under \/lib\/modules\//,
          ) as unknown,
          hint: expect.stringContaining('or set KUBE_PROXY_MODE=nftables') as unknown,
        }),
      ]);
      expect(report.results).toEqual([]);
    } finally {
      cluster.setProperty('KUBE_PROXY_MODE', 'iptables');
    }
  });

  it('init installs curl with the OS phase, then every readiness check passes and health reads every endpoint', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    const errors = report.results.filter((r) => r.error).map((r) => `${r.phase} ${r.host}: ${r.error!.message}\n${r.error!.details?.command ?? ''}\n${r.error!.details?.stderrTail ?? ''}`);
    expect(run.code, `${errors.join('\n')}\n${run.stderr}`).toBe(0);
    const installs = report.results.filter((r) => r.phase === 'os').map((r) => r.changes.find((c) => c.resource.startsWith('package:'))?.summary);
    expect(installs).toEqual([expect.stringMatching(/^install packages? .*\bcurl\b/), expect.stringMatching(/^install packages? .*\bcurl\b/)]);
    for (const [i] of hosts.all().entries()) expect((await hosts.exec(i, 'command -v curl')).code).toBe(0);

    const health = await cluster.cli(['health', '--output', 'json']);
    const rows = (JSON.parse(health.stdout) as { checks: Array<{ check: string; host: string; ok: boolean; detail: string }> }).checks;
    expect(rows.filter((r) => !r.ok).map((r) => `${r.check} ${r.host}: ${r.detail}`)).toEqual([]);
    expect(health.code).toBe(0);
  });
});
