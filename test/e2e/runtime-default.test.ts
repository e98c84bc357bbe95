import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { containerdSupports, parseVersion } from '../../src/upstream/index.js';
import type { InventoryOptions } from '../lab/index.js';
import { bundleFile } from './support/bundle.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/** Installing the runtime on a busy 2-core machine takes minutes. */
const INSTALL_TIMEOUT = 900_000;
const PHASES = ['--phase', 'os,runtime'];

/**
 * A Debian 12 host with the default config (the committed example, with the lab bundle's versions):
 * its own containerd is Debian 12's 1.6.20, which no Kubernetes minor kubestrap supports takes, and
 * Docker's apt repository is out of reach (nothing leaves the lab, by design). So the default,
 * CONTAINER_RUNTIME_SOURCE=auto, must find its way to the third source, the release binaries,
 * here the lab bundle's (Debian unstable's containerd 2.x), and say why in the plan. Docker's
 * repository itself is covered by unit tests: the lab serves no apt repository laid out like it.
 */
describe.skipIf(!labAvailable())('a Debian 12 host with the default config gets a containerd that upstream supports', () => {
  // `previous`: the host's apt sees Debian 12's repository only, as a Debian 12 server's does.
  const hosts = useLabHosts(1, { generation: 'previous' });
  const roles: InventoryOptions = {};
  beforeAll(() => {
    roles.roles = { [hosts.host(0).name]: ['etcd', 'master', 'worker'] };
  });
  const cluster = useLabCluster(hosts, roles);
  const node = () => hosts.host(0).name;

  it('is accepted: the plan takes the release binaries and says why, naming what Debian 12 and Docker offered', async () => {
    const config = readFileSync(cluster.config, 'utf8');
    expect(config).toMatch(/^CONTAINER_RUNTIME_SOURCE=auto$/m);
    const run = await cluster.cli(['plan', ...PHASES, '--output', 'plain']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const kube = /^KUBE_VERSION=(\S+)$/m.exec(config)![1]!;
    const containerd = bundleFile(inject('bundleDir')!, 'containerd').version;
    const plan = run.stdout;
    expect(plan).toContain(`install /usr/local/bin/containerd (containerd ${containerd})`);
    expect(plan).toContain(
      `CONTAINER_RUNTIME_SOURCE=auto: the static release binaries from the offline bundle (containerd ${containerd}): Debian GNU/Linux 12's own packages: containerd v1.6.20, which Kubernetes ${kube} does not support; Docker's repository https://download.docker.com/linux/debian: could not be read (exit 100`,
    );
    expect(plan).not.toContain('install packages containerd');
    expect(plan).not.toContain('/etc/apt/sources.list.d/docker.list');
  });

  it(
    'apply installs it: containerd of the bundle, supported by the cluster version, serving CRI from kubestrap units; a second apply changes nothing',
    async () => {
      const { run, report } = await cluster.json('apply', PHASES);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const kube = parseVersion(/^KUBE_VERSION=(\S+)$/m.exec(readFileSync(cluster.config, 'utf8'))![1]!)!;
      const installed = parseVersion(/ v?(\d+\.\d+\.\d+)/.exec(await hosts.run(0, '/usr/local/bin/containerd --version'))![1]!)!;
      expect(containerdSupports(kube, installed), `containerd ${installed.tag} under Kubernetes ${kube.tag}`).toBe(true);
      expect(await hosts.run(0, 'systemctl show -p FragmentPath --value containerd')).toBe('/etc/systemd/system/containerd.service\n');
      expect(await hosts.run(0, 'ctr plugins ls')).toMatch(/^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$/m);
      expect((await hosts.run(0, 'docker info --format {{.ServerVersion}}')).trim()).not.toBe('');
      // Debian 12's own packages stayed out.
      expect((await hosts.exec(0, "dpkg-query -W -f='${db:Status-Abbrev}' containerd docker.io 2>/dev/null | grep -c '^ii'")).stdout.trim()).toBe('0');
      expect(report.results.find((r) => r.phase === 'runtime' && r.host === node())?.status).toBe('changed');

      const again = await cluster.json('apply', PHASES);
      expect(again.run.code).toBe(0);
      expect(again.report.results.filter((r) => r.phase === 'runtime').map((r) => [r.status, r.changes.map((c) => c.summary)])).toEqual([['ok', []]]);
    },
    INSTALL_TIMEOUT,
  );
});
