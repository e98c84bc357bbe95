import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { runEngine } from '../support/engine-run.js';
import { hostValues } from '../../src/phases/index.js';
import { createRuntimePhase } from '../../src/phases/runtime.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { prepareTemplates } from '../../src/render/render-cluster.js';
import { SshPool } from '../../src/ssh/pool.js';
import { parseVersion } from '../../src/upstream/index.js';
import type { InventoryOptions } from '../lab/index.js';
import { bundleFile } from './support/bundle.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';
import { writeImageArchive } from './support/image-archive.js';

/** Installing the runtime on a busy 2-core machine takes minutes (the engine allows a package install 15). */
const INSTALL_TIMEOUT = 900_000;

const PHASES = ['--phase', 'os,runtime'];
const PAUSE = 'registry.k8s.io/pause:3.10';

describe.skipIf(!labAvailable())("apply --phase os,runtime: containerd and Docker from Debian's packages", () => {
  const hosts = useLabHosts(2);
  const roles: InventoryOptions = {};
  beforeAll(() => {
    // Both hosts run the kubelet, so both get the runtime.
    roles.roles = { [hosts.host(0).name]: ['etcd', 'master', 'worker'], [hosts.host(1).name]: ['worker'] };
  });
  const cluster = useLabCluster(hosts, roles);
  const mainPid = async (i: number, unit: string) => (await hosts.run(i, `systemctl show -p MainPID --value ${unit}`)).trim();

  it('refuses, before changing anything anywhere, a host whose package sources lack the runtime and a data-root on a missing mount', async () => {
    // node 1: apt knows a source, but it has neither docker.io nor containerd.
    await hosts.run(
      1,
      'mkdir -p /opt/empty-repo && : > /opt/empty-repo/Packages && mv /etc/apt/sources.list.d /root/sources.list.d.lab && mkdir /etc/apt/sources.list.d && echo "deb [trusted=yes] file:/opt/empty-repo ./" > /etc/apt/sources.list.d/empty.list && apt-get update -qq',
    );
    // node 0: Docker's data is meant for a disk that is not mounted.
    await hosts.run(0, 'mkdir -p /data && echo "/dev/vdb /data ext4 defaults 0 2" >> /etc/fstab');
    cluster.setProperty('DOCKER_DATA_ROOT', '/data/docker');
    // Packages only: the default (auto) would fall back to the bundle's release binaries.
    cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'package');

    try {
      const { run, report } = await cluster.json('apply', PHASES);
      expect(run.code).toBe(2);
      const [node0, node1] = [hosts.host(0).name, hosts.host(1).name];
      expect((report.refused ?? []).map((r) => `${r.where}: ${r.message} | fix: ${r.hint}`)).toEqual([
        `${node0} DOCKER_DATA_ROOT: Docker's data root /data/docker is on /data, which /etc/fstab lists but is not mounted | fix: mount the disk meant for Docker's data (and list it in /etc/fstab), or set DOCKER_DATA_ROOT to a directory on a mounted filesystem`,
        // Neither Debian's sources (emptied) nor Docker's repository (out of the lab's reach) has a runtime.
        expect.stringMatching(
          new RegExp(
            `^${node1} CONTAINER_RUNTIME_SOURCE: no containerd that Kubernetes v[\\d.]+ supports \\(containerd's table: [^)]+\\) comes from CONTAINER_RUNTIME_SOURCE=package: Debian GNU/Linux 12's own packages: no containerd, docker\\.io; Docker's repository https://download\\.docker\\.com/linux/debian: could not be read \\(exit 100: .*\\) \\| fix: point DOCKER_APT_REPO at a repository \\(or mirror\\) this host reaches, set CONTAINER_RUNTIME_SOURCE=auto or static`,
          ),
        ),
        `${node1} DOCKER_DATA_ROOT: Docker's data root /data/docker is under /data, which does not exist: a disk meant to be mounted there is missing | fix: mount the disk meant for Docker's data (and list it in /etc/fstab), or set DOCKER_DATA_ROOT to a directory on a mounted filesystem`,
      ]);
      expect(report.results).toEqual([]);
      for (const i of [0, 1]) {
        expect((await hosts.exec(i, 'systemctl is-active firewalld')).stdout.trim()).toBe('active');
        expect((await hosts.exec(i, 'test -e /etc/docker/daemon.json')).code).not.toBe(0);
      }
    } finally {
      await hosts.run(1, 'rm -r /etc/apt/sources.list.d && mv /root/sources.list.d.lab /etc/apt/sources.list.d && apt-get update -qq');
      await hosts.run(0, "sed -i '\\#^/dev/vdb /data#d' /etc/fstab && rmdir /data");
      cluster.setProperty('DOCKER_DATA_ROOT', '/var/lib/docker');
      cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'auto');
    }
  });

  it('refuses a bridge that overlaps the pod network and an unknown runtime source, before connecting', async () => {
    cluster.setProperty('DOCKER_BIP', '172.20.0.1/16');
    cluster.setProperty('DOCKER_REGISTRY_MIRRORS', '');
    const overlap = await cluster.cli(['plan', ...PHASES]);
    expect(overlap.code).toBe(2);
    expect(overlap.stderr).toMatch(/config\.properties:\d+ DOCKER_BIP: 172\.20\.0\.1\/16 overlaps CLUSTER_CIDR 172\.20\.0\.0\/16\n {2}fix: pick a bridge range/);
    cluster.setProperty('DOCKER_BIP', '172.17.0.1/16');

    cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'tarball');
    const unknown = await cluster.cli(['plan', ...PHASES]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/CONTAINER_RUNTIME_SOURCE: .*tarball/);
    expect(unknown.stderr).toContain('auto, package, docker, static, bundle');
    cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'auto');
  });

  it(
    'installs and configures containerd and Docker: CRI loaded, cgroup driver of a cgroup v1 host, the bridge address',
    async () => {
      const { run, report } = await cluster.json('apply', PHASES);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(report.results.filter((r) => r.phase === 'runtime').map((r) => r.status)).toEqual(['changed', 'changed']);
      // The hosts' apt has the bundle's generation of containerd (current: Debian unstable's 2.x, config format 3).
      const containerd = parseVersion(bundleFile(inject('bundleDir')!, 'containerd').version)!;
      for (const i of [0, 1]) {
        expect(await hosts.run(i, 'containerd --version')).toContain(` ${containerd.tag.slice(1)}`);
        expect(await hosts.run(i, 'ctr plugins ls')).toMatch(/^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$/m);
        // The lab's hosts are cgroup v1 Debian: both runtimes and the kubelet use cgroupfs there.
        expect((await hosts.run(i, "docker info --format '{{.CgroupDriver}} {{.LiveRestoreEnabled}}'")).trim()).toBe('cgroupfs true');
        const config = await hosts.run(i, 'cat /etc/containerd/config.toml');
        expect(config).toMatch(new RegExp(`^version = ${containerd.major >= 2 ? 3 : 2}$`, 'm'));
        // containerd's own reading of the file (every setting as it took it), not only what was written.
        const taken = await hosts.run(i, 'containerd config dump');
        expect(taken).toMatch(/^\s*SystemdCgroup = false$/m);
        expect(taken).toMatch(/^\s*config_path = ['"]\/etc\/containerd\/certs\.d['"]$/m);
        expect(taken).toMatch(/^\s*sandbox(_image)? = ['"]registry\.k8s\.io\/pause:[\d.]+['"]$/m);
        if (containerd.major >= 2) expect(taken).toMatch(/^\s*bin_dirs = \[['"]\/opt\/cni\/bin['"]\]$/m);
        // A file in the format it reads: containerd 2.x migrates an older one at every start, with a warning.
        expect(await hosts.run(i, 'journalctl -u containerd --no-pager -o cat')).not.toContain('Configuration migrated from version');
        expect(await hosts.run(i, 'ip -4 -o addr show docker0')).toContain('inet 172.17.0.1/16');
      }
    },
    INSTALL_TIMEOUT,
  );

  it('runs a container with Docker', async () => {
    await hosts.run(
      1,
      'apt-get install -y -qq busybox-static >/dev/null && mkdir -p /tmp/bb/bin && cp /bin/busybox /tmp/bb/bin/ && tar -C /tmp/bb -c . | docker import - kubestrap/busybox:e2e >/dev/null',
    );
    expect((await hosts.run(1, 'docker run --rm kubestrap/busybox:e2e /bin/busybox echo hello from a container')).trim()).toBe('hello from a container');
  });

  it('changes and restarts nothing on a second apply, at one fact and one probe command per host', async () => {
    const pids = [await mainPid(1, 'containerd'), await mainPid(1, 'docker')];
    const { run, report } = await cluster.json('apply', PHASES);
    expect(run.code).toBe(0);
    expect(report.results.map((r) => [r.phase, r.status, r.changes.length, r.restarts.length])).toEqual([
      ['os', 'ok', 0, 0],
      ['os', 'ok', 0, 0],
      ['runtime', 'ok', 0, 0],
      ['runtime', 'ok', 0, 0],
    ]);
    expect(report.hosts.map((h) => h.roundTrips)).toEqual([0, 1].map(() => ({ handshakes: 1, execs: 2, sftpOps: 0 })));
    expect([await mainPid(1, 'containerd'), await mainPid(1, 'docker')]).toEqual(pids);
  });

  it('a new mirror and an insecure registry: hosts.toml files and daemon.json change, Docker restarts once, containerd not at all', async () => {
    const containerd = await mainPid(1, 'containerd');
    const docker = await mainPid(1, 'docker');
    // live-restore: a container outlives Docker's restart.
    await hosts.run(1, 'docker run -d --name kubestrap-keep kubestrap/busybox:e2e /bin/busybox sleep 3600 >/dev/null');
    const started = await hosts.run(1, "docker inspect -f '{{.State.Pid}} {{.State.StartedAt}}' kubestrap-keep");
    cluster.setProperty('DOCKER_REGISTRY_MIRRORS', 'https://mirror-a.example.com');
    cluster.setProperty('DOCKER_INSECURE_REGISTRIES', '10.88.0.1:5000');

    const { run, report } = await cluster.json('apply', PHASES);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const r of report.results.filter((x) => x.phase === 'runtime')) {
      expect(r.changes.map((c) => c.resource).sort()).toEqual([
        'directory:/etc/containerd/certs.d/10.88.0.1:5000',
        'directory:/etc/containerd/certs.d/docker.io',
        'file:/etc/containerd/certs.d/10.88.0.1:5000/hosts.toml',
        'file:/etc/containerd/certs.d/docker.io/hosts.toml',
        'file:/etc/docker/daemon.json',
        'record:runtime',
      ]);
      expect(r.restarts.map((x) => x.service)).toEqual(['docker']);
    }
    expect(await mainPid(1, 'containerd')).toBe(containerd);
    expect(await mainPid(1, 'docker')).not.toBe(docker);
    expect(await hosts.run(1, "docker inspect -f '{{.State.Pid}} {{.State.StartedAt}}' kubestrap-keep")).toBe(started);
    expect(await hosts.run(1, "docker info --format '{{json .RegistryConfig.Mirrors}}'")).toContain('https://mirror-a.example.com/');
    expect(await hosts.run(1, 'cat /etc/containerd/certs.d/docker.io/hosts.toml')).toMatch(
      /server = "https:\/\/registry-1\.docker\.io"\n\n\[host\."https:\/\/mirror-a\.example\.com"\]\n {2}capabilities = \["pull", "resolve"\]/,
    );
    expect(await hosts.run(1, 'cat /etc/containerd/certs.d/10.88.0.1:5000/hosts.toml')).toContain('skip_verify = true');
  });

  it('a changed mirror rewrites its hosts.toml, a dropped registry loses its folder, and containerd keeps running', async () => {
    const containerd = await mainPid(0, 'containerd');
    cluster.setProperty('DOCKER_REGISTRY_MIRRORS', 'https://mirror-b.example.com');
    cluster.setProperty('DOCKER_INSECURE_REGISTRIES', '');
    const { run, report } = await cluster.json('apply', PHASES);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const runtime = report.results.filter((x) => x.phase === 'runtime');
    for (const r of runtime) {
      // The dropped registry's file and then its folder go: kubestrap recorded them (and nothing someone else put there).
      expect(r.changes.map((c) => c.resource).sort()).toEqual([
        'directory:/etc/containerd/certs.d/10.88.0.1:5000',
        'file:/etc/containerd/certs.d/10.88.0.1:5000/hosts.toml',
        'file:/etc/containerd/certs.d/docker.io/hosts.toml',
        'file:/etc/docker/daemon.json',
        'record:runtime',
      ]);
      expect(r.restarts.map((x) => x.service)).toEqual(['docker']);
    }
    expect(await mainPid(0, 'containerd')).toBe(containerd);
    expect(await hosts.run(0, 'ls /etc/containerd/certs.d')).toBe('docker.io\n');
    expect(await hosts.run(0, 'cat /etc/containerd/certs.d/docker.io/hosts.toml')).toContain('[host."https://mirror-b.example.com"]');
  });

  describe('images without a registry', () => {
    let pool: SshPool;
    const archive = join(mkdtempSync(join(tmpdir(), 'kubestrap-e2e-images-')), 'pause.tar');
    beforeAll(() => {
      writeImageArchive(archive, PAUSE);
      pool = new SshPool({ knownHostsFile: loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config }).knownHostsFile, acceptNewHostKeys: false });
    });
    afterAll(() => pool?.closeAll());

    const apply = async () => {
      const spec = loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config });
      const templates = prepareTemplates(spec, BUNDLED_UNITS);
      const phase = createRuntimePhase({ images: () => [{ ref: PAUSE, archive }] });
      return runEngine(spec, pool, [phase], 'apply', { filesFor: (h, facts) => templates.renderHost(h, hostValues(h, facts)).files });
    };

    it("imports the pause image into containerd's k8s.io namespace when it is missing, and only then", async () => {
      const first = await apply();
      for (const r of first.results) {
        expect(r.error).toBeUndefined();
        // The earlier runs of this file (with the lab's bundle) left the bundle's image archives, which this run does not want: removed.
        const bundled = r.changes.filter((c) => c.resourceId.startsWith('file:/var/lib/kubestrap/images/') && !c.resourceId.endsWith('/pause.tar'));
        expect(bundled.map((c) => c.summary)).toEqual(bundled.map((c) => `remove ${c.resourceId.slice('file:'.length)}`));
        expect(r.changes.filter((c) => !bundled.includes(c)).map((c) => c.resourceId)).toEqual(['file:/var/lib/kubestrap/images/pause.tar', `command:image-import:${PAUSE}`, 'record:runtime']);
        expect(r.restarts).toEqual([]);
      }
      for (const i of [0, 1]) expect((await hosts.run(i, 'ctr -n k8s.io images ls -q')).split('\n')).toContain(PAUSE);

      const again = await apply();
      expect(again.results.map((r) => [r.status, r.changes.length])).toEqual([
        ['ok', 0],
        ['ok', 0],
      ]);

      // Gone from containerd (someone pruned it): the next run imports it again from the archive on the host.
      await hosts.run(1, `ctr -n k8s.io images rm ${PAUSE} >/dev/null`);
      const back = await apply();
      expect(back.results.map((r) => r.changes.map((c) => c.resourceId))).toEqual([[], [`command:image-import:${PAUSE}`]]);
      expect((await hosts.run(1, 'ctr -n k8s.io images ls -q')).split('\n')).toContain(PAUSE);
    });
  });
});
