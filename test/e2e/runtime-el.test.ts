import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { leadingVersion } from '../../src/runtime/versions.js';
import { containerdSupports, parseVersion } from '../../src/upstream/index.js';
import type { InventoryOptions } from '../lab/index.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/** Installing the runtime on a busy 2-core machine takes minutes (the engine allows a package install 15). */
const INSTALL_TIMEOUT = 900_000;

const PHASES = ['--phase', 'os,runtime'];

describe.skipIf(!labAvailable())('apply --phase os,runtime on EL hosts: docker-ce, docker-ce-cli and containerd.io from DOCKER_YUM_REPO', () => {
  const hosts = useLabHosts(2, { flavour: ['el9', 'el7'] });
  const roles: InventoryOptions = {};
  beforeAll(() => {
    roles.roles = { [hosts.host(0).name]: ['etcd', 'master', 'worker'], [hosts.host(1).name]: ['worker'] };
  });
  const cluster = useLabCluster(hosts, roles);
  const [el9, el7] = [0, 1];

  it('refuses a docker-ce repository that cannot be read, naming each host, the repository and DOCKER_YUM_REPO, with nothing changed', async () => {
    // A port on the lab's gateway where nothing listens: no traffic leaves the lab.
    const dead = `http://${hosts.lab.gateway}:9/docker-ce/$releasever/$basearch/stable`;
    cluster.setProperty('DOCKER_YUM_REPO', dead);
    // Docker's repository alone: the default (auto) would fall back to the bundle's release binaries.
    cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'docker');
    const { run, report } = await cluster.json('apply', PHASES);
    expect(run.code).toBe(2);
    expect(report.results).toEqual([]);
    const refused = report.refused ?? [];
    expect(refused.map((r) => r.where)).toEqual(hosts.all().map((h) => `${h.name} DOCKER_YUM_REPO`));
    for (const r of refused) {
      expect(r.message).toContain(`comes from CONTAINER_RUNTIME_SOURCE=docker: Docker's repository ${dead}: could not be read (exit 1`);
      expect(r.hint).toContain('point DOCKER_YUM_REPO at a repository (or mirror) this host reaches');
    }
    for (const i of [el9, el7]) {
      expect((await hosts.exec(i, 'test -e /etc/yum.repos.d/docker-ce.repo')).code).not.toBe(0);
      expect((await hosts.run(i, 'systemctl is-active firewalld || true')).trim()).toBe('active');
    }
  });

  /**
   * The lab's docker-ce repository repackages Debian 12's containerd (1.6.20), which containerd's
   * table supports under no Kubernetes minor kubestrap does: with it, Docker's repository is refused
   * by name, and the default takes the release binaries. Where the lab offers a supported
   * containerd.io, the install from the repository is what is tested.
   */
  async function labContainerdIoSupported(): Promise<{ offered: string; supported: boolean }> {
    const url = hosts.lab.rpm!.dockerCeUrl.replace('$releasever', '9').replace('$basearch', 'x86_64');
    const offered = (await hosts.run(el9, `dnf -q --repofrompath=lab-docker,${url} --repo=lab-docker repoquery --qf '%{version}' containerd.io`)).trim().split('\n')[0]!;
    const kube = parseVersion(/^KUBE_VERSION=(\S+)$/m.exec(readFileSync(cluster.config, 'utf8'))![1]!)!;
    return { offered, supported: containerdSupports(kube, leadingVersion(offered)!) };
  }

  it(
    "refuses the lab repository's too-old containerd.io by name, and the default takes the release binaries instead",
    async (ctx) => {
      cluster.setProperty('DOCKER_YUM_REPO', hosts.lab.rpm!.dockerCeUrl);
      cluster.setProperty('DOCKER_YUM_GPGKEY', hosts.lab.rpm!.gpgKeyUrl);
      const { offered, supported } = await labContainerdIoSupported();
      if (supported) ctx.skip();
      const refused = await cluster.json('plan', PHASES);
      expect(refused.run.code).toBe(2);
      for (const r of refused.report.refused ?? []) expect(r.message).toContain(`: containerd ${leadingVersion(offered)!.tag}, which Kubernetes`);
      cluster.setProperty('CONTAINER_RUNTIME_SOURCE', 'auto');
      const { run } = await cluster.json('apply', PHASES);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      for (const i of [el9, el7]) {
        expect(await hosts.run(i, 'systemctl show -p FragmentPath --value containerd')).toBe('/etc/systemd/system/containerd.service\n');
        expect((await hosts.exec(i, 'rpm -q containerd.io')).code).not.toBe(0);
        expect(await hosts.run(i, 'ctr plugins ls')).toMatch(/^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$/m);
        // EL: the systemd driver, for Docker, containerd and (later) the kubelet alike.
        expect((await hosts.run(i, "docker info --format '{{.CgroupDriver}}'")).trim()).toBe('systemd');
      }
    },
    INSTALL_TIMEOUT,
  );

  it(
    'installs through dnf (el9) and yum (el7) from the repository it writes, and starts containerd with CRI and Docker with the systemd driver',
    async (ctx) => {
      cluster.setProperty('DOCKER_YUM_REPO', hosts.lab.rpm!.dockerCeUrl);
      cluster.setProperty('DOCKER_YUM_GPGKEY', hosts.lab.rpm!.gpgKeyUrl);
      if (!(await labContainerdIoSupported()).supported) ctx.skip();
      const { run, report } = await cluster.json('apply', PHASES);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const runtime = report.results.filter((r) => r.phase === 'runtime');
      expect(runtime.map((r) => r.changes.map((c) => c.summary).find((s) => s.startsWith('install')))).toEqual([
        'install packages containerd.io, docker-ce, docker-ce-cli with dnf',
        'install packages containerd.io, docker-ce, docker-ce-cli with yum',
      ]);
      for (const i of [el9, el7]) {
        expect(await hosts.run(i, 'rpm -q docker-ce docker-ce-cli containerd.io')).toMatch(/^docker-ce-.*\ndocker-ce-cli-.*\ncontainerd\.io-.*\n$/);
        expect(await hosts.run(i, 'cat /etc/yum.repos.d/docker-ce.repo')).toContain(`baseurl=${hosts.lab.rpm!.dockerCeUrl}\nenabled=1\ngpgcheck=1\ngpgkey=${hosts.lab.rpm!.gpgKeyUrl}\n`);
        expect(await hosts.run(i, 'ctr plugins ls')).toMatch(/^io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok\s*$/m);
        // EL: the systemd driver, for Docker, containerd and (later) the kubelet alike.
        expect((await hosts.run(i, "docker info --format '{{.CgroupDriver}}'")).trim()).toBe('systemd');
        expect(await hosts.run(i, 'cat /etc/containerd/config.toml')).toContain('SystemdCgroup = true');
      }
    },
    INSTALL_TIMEOUT,
  );

  it('changes and restarts nothing on a second apply', async () => {
    const { run, report } = await cluster.json('apply', PHASES);
    expect(run.code).toBe(0);
    expect(report.results.map((r) => [r.phase, r.status, r.changes.length, r.restarts.length])).toEqual([
      ['os', 'ok', 0, 0],
      ['os', 'ok', 0, 0],
      ['runtime', 'ok', 0, 0],
      ['runtime', 'ok', 0, 0],
    ]);
  });
});
