import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import type { HostFacts } from '../../src/engine/facts.js';
import type { CommandResource, Resource } from '../../src/engine/resource.js';
import { detectOs } from '../../src/os/detect.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { createRuntimePhase, runtimePhase } from '../../src/phases/runtime.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { fakeTools, shRun } from '../engine/support.js';
import { factsFor, type OsName } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';

/** A minor that still takes containerd 1.7 (1.7.28+): the tests' hosts run it. */
const PINNED = 'KUBE_VERSION=v1.35.0\n';
import { useTempDir } from '../support/tmp.js';

const DEBIAN_FRESH = 'cgroup tmpfs\nquery begin\nrc unknown\nquery end';
const DEBIAN_INSTALLED = 'cgroup tmpfs\ninstalled-containerd containerd github.com/containerd/containerd 1.7.28~ds1 1.7.28~ds1-1\ninstalled-dockerd yes';
const EL_CANDIDATES = 'cgroup tmpfs\nquery begin\ncontainerd.io 1.7.22\ndocker-ce 28.5.1\ndocker-ce-cli 28.5.1\nrc 0\nquery end';

function hostFacts(os: OsName, runtime: string, addresses?: string): HostFacts {
  const facts = factsFor(os, addresses ? { addresses } : {});
  facts.extra = { runtime };
  return facts;
}

describe('runtime phase', () => {
  const tmp = useTempDir();

  function setup(config = '', os: OsName = 'debian12', runtime = DEBIAN_FRESH) {
    const spec = clusterFrom(tmp(), PINNED + config);
    const host = spec.hosts.find((h) => h.name === 'w1')!;
    const facts = hostFacts(os, runtime, '127.0.0.1/8\n10.0.0.12/24');
    const { hosts } = renderCluster(spec, BUNDLED_UNITS, (h) => hostValues(h, h === host ? facts : undefined));
    const files = hosts.find((h) => h.host === host)!.files;
    const ctx = { spec, host, facts, os: detectOs(host.name, facts), files };
    return { spec, host, facts, ctx, file: (path: string) => files.find((f) => f.path === path)?.content };
  }
  const summary = (resources: Resource[]) =>
    resources.map((r) =>
      r.kind === 'file' || r.kind === 'directory'
        ? `${r.kind} ${r.path}`
        : r.kind === 'package'
          ? `package ${r.names.join(',')}`
          : r.kind === 'service'
            ? `service ${r.name}`
            : r.kind === 'command'
              ? `command ${r.name}`
              : r.kind,
    );

  it('runs where the kubelet does', () => {
    const spec = clusterFrom(tmp(), PINNED);
    expect(spec.hosts.filter((h) => runtimePhase.appliesTo(h)).map((h) => h.name)).toEqual(['w1']);
  });

  it("on Debian: the configuration first (the packages then start on it), Debian's packages, both services", () => {
    const { ctx } = setup();
    expect(summary(runtimePhase.resources(ctx))).toEqual([
      'file /etc/containerd/config.toml',
      'file /etc/docker/daemon.json',
      'package containerd,docker.io',
      'command docker-command',
      'service containerd',
      'service docker',
    ]);
  });

  it("on Debian: the docker command's own package after the others, installed only where they left the command out", () => {
    const resources = runtimePhase.resources(setup().ctx);
    expect(summary(resources)).toEqual([
      'file /etc/containerd/config.toml',
      'file /etc/docker/daemon.json',
      'package containerd,docker.io',
      'command docker-command',
      'service containerd',
      'service docker',
    ]);
    const command = resources.find((r): r is CommandResource => r.kind === 'command')!;
    expect(command.check).toBe('command -v docker >/dev/null 2>&1');
    // Run for real: a host whose docker.io brought the command installs nothing (Debian 12's has no docker-cli to install).
    const withDocker = fakeTools(`${tmp()}/with`, { docker: 'exit 0', 'apt-get': 'echo apt-get "$@"; exit 100' });
    expect(shRun(command.run, withDocker)).toMatchObject({ code: 0, stdout: '' });
    // A host without it installs docker-cli (Debian 13's docker.io and later only recommend it).
    const dir = `${tmp()}/without`;
    const without = { ...fakeTools(dir, { 'apt-get': 'echo apt-get "$@"' }), PATH: `${dir}/bin:/usr/bin:/bin` };
    expect(shRun(command.run, without).stdout).toContain('apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold docker-cli');
  });

  it('on EL: nothing more for the docker command, which docker-ce-cli brings', () => {
    expect(summary(runtimePhase.resources(setup('', 'rocky93', EL_CANDIDATES).ctx)).filter((r) => r.startsWith('command'))).toEqual([]);
  });

  it('on EL: the docker-ce repo file from DOCKER_YUM_REPO ahead of docker-ce, docker-ce-cli and containerd.io', () => {
    const { ctx } = setup(
      'DOCKER_YUM_REPO=https://mirrors.aliyun.com/docker-ce/linux/centos/$releasever/$basearch/stable\nDOCKER_YUM_GPGKEY=https://mirrors.aliyun.com/docker-ce/linux/centos/gpg\n',
      'rocky93',
      EL_CANDIDATES,
    );
    const resources = runtimePhase.resources(ctx);
    expect(summary(resources)[0]).toBe('file /etc/yum.repos.d/docker-ce.repo');
    expect(summary(resources)).toContain('package containerd.io,docker-ce,docker-ce-cli');
    const repo = resources[0] as Extract<Resource, { kind: 'file' }>;
    expect(repo.content).toBe(
      [
        '# Managed by kubestrap; change it through config.properties.',
        '[docker-ce-stable]',
        'name=Docker CE Stable - $basearch',
        'baseurl=https://mirrors.aliyun.com/docker-ce/linux/centos/$releasever/$basearch/stable',
        'enabled=1',
        'gpgcheck=1',
        'gpgkey=https://mirrors.aliyun.com/docker-ce/linux/centos/gpg',
        '',
      ].join('\n'),
    );
  });

  it('writes no repo file for a bundle install, and a hosts.toml per registry', () => {
    const { ctx } = setup('CONTAINER_RUNTIME_SOURCE=bundle\nDOCKER_REGISTRY_MIRRORS=https://m.example\nDOCKER_INSECURE_REGISTRIES=10.0.0.5:5000\n', 'rocky93', EL_CANDIDATES);
    const names = summary(runtimePhase.resources(ctx));
    expect(names.filter((n) => n.includes('yum.repos.d'))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['file /etc/containerd/certs.d/docker.io/hosts.toml', 'file /etc/containerd/certs.d/10.0.0.5:5000/hosts.toml']));
    const toml = runtimePhase.resources(ctx).filter((r): r is Extract<Resource, { kind: 'file' }> => r.kind === 'file' && r.path.endsWith('hosts.toml'));
    expect(toml.map((r) => r.restarts)).toEqual([[], []]);
  });

  it('imports images only through a check on containerd, after the services start', () => {
    const { ctx } = setup();
    const archive = `${tmp()}/pause.tar`;
    writeFileSync(archive, 'not really an image');
    const phase = createRuntimePhase({ images: () => [{ ref: 'registry.k8s.io/pause:3.10', archive }] });
    const [file, command] = phase.resources(ctx).slice(-2);
    expect(file).toMatchObject({ kind: 'file', path: '/var/lib/kubestrap/images/pause.tar', restarts: [] });
    expect(command).toMatchObject({ kind: 'command', check: 'ctr -n k8s.io images ls -q | grep -qxF registry.k8s.io/pause:3.10', afterServices: true });
  });

  describe('host values', () => {
    it('cgroupfs on a cgroup v1 Debian host, systemd on cgroup v2, on EL, and for a host not read yet', () => {
      const { host } = setup();
      expect(hostValues(host, hostFacts('debian12', DEBIAN_FRESH)).CGROUP_DRIVER).toBe('cgroupfs');
      expect(hostValues(host, hostFacts('debian12', 'cgroup cgroup2fs')).CGROUP_DRIVER).toBe('systemd');
      expect(hostValues(host, hostFacts('centos7', 'cgroup tmpfs')).CGROUP_DRIVER).toBe('systemd');
      expect(hostValues(host, undefined).CGROUP_DRIVER).toBe('systemd');
    });

    it("containerd's config version from the installed containerd, else the one the package manager would install", () => {
      const { host } = setup();
      expect(hostValues(host, hostFacts('debian12', DEBIAN_INSTALLED)).CONTAINERD_CONFIG_VERSION).toBe('2');
      expect(hostValues(host, hostFacts('rocky93', EL_CANDIDATES.replace('1.7.22', '2.1.4'))).CONTAINERD_CONFIG_VERSION).toBe('3');
      expect(
        hostValues(host, hostFacts('rocky93', 'cgroup tmpfs\ninstalled-containerd containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7\ninstalled-dockerd yes')).CONTAINERD_CONFIG_VERSION,
      ).toBe('3');
      expect(hostValues(host, undefined).CONTAINERD_CONFIG_VERSION).toBe('2');
    });

    it('renders the same cgroup driver into containerd, Docker and the kubelet, and the config format for containerd 2', () => {
      const { file } = setup('', 'rocky93', EL_CANDIDATES.replace('1.7.22', '2.1.4'));
      const toml = file('/etc/containerd/config.toml')!;
      expect(toml).toMatch(/^version = 3$/m);
      expect(toml).toContain('[plugins.\'io.containerd.cri.v1.images\'.pinned_images]\n    sandbox = "registry.k8s.io/pause:3.10.1"');
      expect(toml).toContain('SystemdCgroup = true');
      expect(toml).toContain('disabled_plugins = []');
      expect(JSON.parse(file('/etc/docker/daemon.json')!)['exec-opts']).toEqual(['native.cgroupdriver=systemd']);
      expect(file('/etc/kubernetes/kubelet-config.yaml')).toContain('cgroupDriver: systemd');

      const debian = setup('', 'debian12', DEBIAN_INSTALLED);
      expect(debian.file('/etc/containerd/config.toml')).toContain('SystemdCgroup = false');
      expect(debian.file('/etc/containerd/config.toml')).toMatch(/^version = 2$/m);
      expect(JSON.parse(debian.file('/etc/docker/daemon.json')!)).toMatchObject({ 'exec-opts': ['native.cgroupdriver=cgroupfs'], bip: '172.17.0.1/16', 'live-restore': true });
      expect(debian.file('/etc/kubernetes/kubelet-config.yaml')).toContain('cgroupDriver: cgroupfs');
    });
  });

  describe('preflight', () => {
    const refuse = (spec: ClusterSpec, os: OsName, runtime: string, addresses?: string) => {
      const host = spec.hosts.find((h) => h.name === 'w1')!;
      const facts = hostFacts(os, runtime, addresses);
      return runtimePhase.preflight!({ spec, mode: 'apply', hosts: [{ host, facts, os: detectOs(host.name, facts), files: [] }] }).map((e) => e.format());
    };

    it('accepts a fresh Debian host whose package lists are not there yet, and one with the packages installed', () => {
      const spec = clusterFrom(tmp(), PINNED);
      expect(refuse(spec, 'debian12', DEBIAN_FRESH)).toEqual([]);
      expect(refuse(spec, 'debian12', DEBIAN_INSTALLED)).toEqual([]);
    });

    it('names the repository, the packages and the property when the docker-ce repository cannot be read', () => {
      const spec = clusterFrom(tmp(), PINNED + 'DOCKER_YUM_REPO=http://10.0.0.1:9/el/$releasever\n');
      const out = refuse(spec, 'rocky93', "cgroup tmpfs\nquery begin\nrc 1\nError: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml\nquery end");
      expect(out).toEqual([
        "w1 DOCKER_YUM_REPO: cannot read the docker-ce repository http://10.0.0.1:9/el/$releasever to install containerd.io, docker-ce, docker-ce-cli (exit 1): Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml\n" +
          '  fix: set DOCKER_YUM_REPO to a docker-ce repository this host reaches (a mirror, or an offline copy), or CONTAINER_RUNTIME_SOURCE=bundle',
      ]);
    });

    it('names what the repository lacks', () => {
      const spec = clusterFrom(tmp(), PINNED);
      const out = refuse(spec, 'rocky93', 'cgroup tmpfs\nquery begin\ncontainerd.io 1.7.22\nrc 0\nquery end');
      expect(out[0]).toMatch(/^w1 DOCKER_YUM_REPO: the package manager finds no docker-ce, docker-ce-cli in the docker-ce repository https:\/\/download\.docker\.com/);
    });

    it('refuses a containerd older than the Kubernetes version supports, installed or on offer', () => {
      const spec = clusterFrom(tmp(), PINNED);
      const old = 'cgroup tmpfs\ninstalled-containerd containerd github.com/containerd/containerd 1.5.9\ninstalled-dockerd yes';
      expect(refuse(spec, 'debian12', old)).toEqual([
        "w1 KUBE_VERSION: containerd v1.5.9 (installed) is not one that Kubernetes v1.35.0 supports (containerd's table: 2.2.0+, 2.1.5+ or 1.7.28+)\n  fix: upgrade containerd on this host to 2.2.0+, 2.1.5+ or 1.7.28+, or choose a KUBE_VERSION that supports v1.5.9",
      ]);
      const offered = refuse(spec, 'debian12', 'cgroup tmpfs\nquery begin\ncontainerd 1.6.20~ds1-1+deb12u3\ndocker.io 20.10.24\nrc 0\nquery end');
      expect(offered[0]).toContain('containerd v1.6.20 (offered by its package sources) is not one that Kubernetes v1.35.0 supports');
    });

    it('refuses a data root on a disk that is not mounted, or under a folder that does not exist', () => {
      const spec = clusterFrom(tmp(), PINNED + 'DOCKER_DATA_ROOT=/data/docker\n');
      expect(refuse(spec, 'debian12', `${DEBIAN_INSTALLED}\nunmounted /data\ndata-root-top missing`)).toEqual([
        "w1 DOCKER_DATA_ROOT: Docker's data root /data/docker is on /data, which /etc/fstab lists but is not mounted\n  fix: mount the disk meant for Docker's data (and list it in /etc/fstab), or set DOCKER_DATA_ROOT to a directory on a mounted filesystem",
        "w1 DOCKER_DATA_ROOT: Docker's data root /data/docker is under /data, which does not exist: a disk meant to be mounted there is missing\n  fix: mount the disk meant for Docker's data (and list it in /etc/fstab), or set DOCKER_DATA_ROOT to a directory on a mounted filesystem",
      ]);
    });

    it("refuses a bridge over one of the host's networks, but not over docker0's own address", () => {
      const spec = clusterFrom(tmp(), PINNED + 'DOCKER_BIP=192.168.5.1/24\n');
      expect(refuse(spec, 'debian12', DEBIAN_INSTALLED, '127.0.0.1/8\n10.0.0.12/24\n192.168.5.20/24')).toEqual([
        "w1 DOCKER_BIP: Docker's bridge 192.168.5.1/24 overlaps this host's address 192.168.5.20\n  fix: pick a bridge range that overlaps none of the host's networks, e.g. 192.168.254.1/24",
      ]);
      expect(refuse(spec, 'debian12', DEBIAN_INSTALLED, '127.0.0.1/8\n10.0.0.12/24\n192.168.5.1/24')).toEqual([]);
    });
  });
});
