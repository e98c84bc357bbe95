import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { runCli } from '../support/cli.js';
import { runEngine } from '../support/engine-run.js';
import { hostValues } from '../../src/phases/index.js';
import { osPhase } from '../../src/phases/os-prep.js';
import { createRuntimePhase, type RuntimeBundle } from '../../src/phases/runtime.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { prepareTemplates } from '../../src/render/render-cluster.js';
import { SshPool } from '../../src/ssh/pool.js';
import { type JsonReport, useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';
import { writeImageArchive } from './support/image-archive.js';
import { labRuntimeBundle } from './support/runtime-bundle.js';

/** Installing the runtime on a busy 2-core machine takes minutes (the engine allows a package install 15). */
const INSTALL_TIMEOUT = 900_000;

const BUSYBOX = 'docker.io/kubestrap/busybox:e2e';

describe.skipIf(!labAvailable())('CONTAINER_RUNTIME_SOURCE=bundle on a host without any package source', () => {
  const hosts = useLabHosts(1);
  const roles = { roles: {} as Record<string, string[]> };
  beforeAll(() => {
    roles.roles[hosts.host(0).name] = ['etcd', 'master', 'worker'];
  });
  const cluster = useLabCluster(hosts, roles);
  let pool: SshPool;
  let bundle: RuntimeBundle;
  const archive = join(mkdtempSync(join(tmpdir(), 'kubestrap-e2e-bundle-')), 'busybox.tar');

  beforeAll(async () => {
    const made = await labRuntimeBundle(inject('bundleDir')!);
    bundle = made.bundle;
    writeImageArchive(archive, BUSYBOX, { 'bin/busybox': made.busybox });
    cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'bundle');
    // No apt source and no package lists: nothing could be installed from a repository.
    await hosts.run(0, 'rm -rf /etc/apt/sources.list.d/* /etc/apt/sources.list /var/lib/apt/lists/*');
    pool = new SshPool({ knownHostsFile: hosts.lab.knownHosts, acceptNewHostKeys: false });
  }, 300_000);
  afterAll(async () => {
    await pool?.closeAll();
  });

  const apply = async () => {
    const spec = loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config });
    const runtime = createRuntimePhase({ bundle, images: () => [{ ref: BUSYBOX, archive }] });
    const templates = prepareTemplates(spec, BUNDLED_UNITS);
    const values = (h: Parameters<typeof hostValues>[0], facts: Parameters<typeof hostValues>[1]) => ({ ...hostValues(h, facts), ...runtime.hostValues!(h, facts) });
    return runEngine(spec, pool, [osPhase, runtime], 'apply', { filesFor: (h, facts) => templates.renderHost(h, values(h, facts)).files });
  };

  it('is refused by a run without the offline bundle whose release binaries cannot be downloaded, with nothing changed', async () => {
    // The release binaries come from the run's bundle, or are downloaded: here from a port where nothing listens.
    const dead = `http://${hosts.lab.gateway}:9`;
    cluster.setProperty('GITHUB_DOWNLOAD_URL', dead);
    cluster.setProperty('DOCKER_DOWNLOAD_URL', dead);
    try {
      const run = await runCli(['apply', '--phase', 'os,runtime', '--output', 'json', '-i', cluster.inventory, '-c', cluster.config]);
      expect(run.code, run.stdout + run.stderr).toBe(2);
      const report = JSON.parse(run.stdout) as JsonReport;
      expect(report.results).toEqual([]);
      expect((report.refused ?? []).map((r) => r.message).join('\n')).toContain(`${dead}/containerd/containerd/releases/download/`);
      expect((await hosts.exec(0, 'test -e /usr/local/bin/containerd')).code).not.toBe(0);
    } finally {
      cluster.setProperty('GITHUB_DOWNLOAD_URL', 'https://github.com');
      cluster.setProperty('DOCKER_DOWNLOAD_URL', 'https://download.docker.com');
    }
  });

  it(
    'installs containerd, runc and Docker from the bundle with units of its own, and they work',
    async () => {
      const report = await apply();
      const runtime = report.results.find((r) => r.phase === 'runtime')!;
      expect(runtime.error).toBeUndefined();
      expect(runtime.changes.map((c) => c.resourceId)).toEqual(
        expect.arrayContaining(['file:/usr/local/bin/containerd', 'file:/usr/local/bin/dockerd', 'file:/etc/systemd/system/containerd.service', 'file:/etc/systemd/system/docker.service']),
      );
      expect(runtime.changes.some((c) => c.resourceId.startsWith('package:'))).toBe(false);
      expect((await hosts.run(0, 'systemctl is-active containerd docker')).split('\n').filter(Boolean)).toEqual(['active', 'active']);
      expect(await hosts.run(0, 'systemctl show -p FragmentPath --value containerd')).toBe('/etc/systemd/system/containerd.service\n');
      expect(await hosts.run(0, 'ctr plugins ls')).toMatch(/^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$/m);
      expect((await hosts.run(0, 'ctr -n k8s.io images ls -q')).split('\n')).toContain(BUSYBOX);
      expect((await hosts.run(0, "docker info --format '{{.CgroupDriver}}'")).trim()).toBe('cgroupfs');
      await hosts.run(0, 'docker load -q -i /var/lib/kubestrap/images/busybox.tar');
      expect((await hosts.run(0, `docker run --rm ${BUSYBOX} /bin/busybox echo hello from the bundle`)).trim()).toBe('hello from the bundle');
    },
    INSTALL_TIMEOUT,
  );

  it('changes and restarts nothing on a second run', async () => {
    const report = await apply();
    expect(report.results.map((r) => [r.phase, r.status, r.changes.length, r.restarts.length])).toEqual([
      ['os', 'ok', 0, 0],
      ['runtime', 'ok', 0, 0],
    ]);
  });
});
