import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../src/config/cluster-spec.js';
import type { HostFacts } from '../../src/engine/facts.js';
import type { CommandResource, FileResource, PackageResource, Resource } from '../../src/engine/resource.js';
import { detectOs } from '../../src/os/detect.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { hostValues } from '../../src/phases/index.js';
import { createRuntimePhase, runtimePhase } from '../../src/phases/runtime.js';
import { runtimeFactSnippet } from '../../src/runtime/facts.js';
import { renderCluster } from '../../src/render/render-cluster.js';
import { parseVersion } from '../../src/upstream/index.js';
import { fakeTools, shRun } from '../engine/support.js';
import { factsFor, type OsName } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

/** The lab bundle's minor: it takes containerd 2.2.0+, 2.1.5+ or 1.7.28+. */
const PINNED = 'KUBE_VERSION=v1.35.0\n';

const query = (name: string, body: string) => `query ${name} begin\n${body}\nquery ${name} end`;
/** Debian 12's own packages (apt-cache policy against Debian's archive, 2026-12-07). */
const DEBIAN12 = query('distro', 'containerd 1.6.20~ds1-1+deb12u3\ndocker.io 20.10.24+dfsg1-1+deb12u1+b6\nrc 0');
const DOCKER_APT = query('docker', 'containerd.io 2.2.1-1~debian.12~bookworm\ndocker-ce 5:29.1.3-1~debian.12~bookworm\ndocker-ce-cli 5:29.1.3-1~debian.12~bookworm\nrc 0');
const DOCKER_UNREACHABLE = query('docker', "rc 100\n| E: Failed to fetch https://download.docker.com/linux/debian/dists/bookworm/InRelease  Could not resolve 'download.docker.com'");
/** A fresh Debian 12 host that reaches Docker's repository: what the default config meets. */
const DEBIAN_FRESH = `cgroup tmpfs\n${DEBIAN12}\n${DOCKER_APT}`;
const DEBIAN_OFFLINE = `cgroup tmpfs\n${DEBIAN12}\n${DOCKER_UNREACHABLE}`;
/** A Debian whose own containerd is supported (Debian unstable's 2.1.9). */
const DEBIAN_CURRENT = `cgroup tmpfs\n${query('distro', 'containerd 2.1.9~ds1-1\ndocker.io 28.5.2+dfsg1-1\nrc 0')}\n${DOCKER_APT}`;
const DEBIAN_INSTALLED = 'cgroup tmpfs\ninstalled-containerd containerd github.com/containerd/containerd 1.7.28~ds1 1.7.28~ds1-1\ninstalled-from distro\ninstalled-dockerd yes';
const EL_CANDIDATES = `cgroup tmpfs\n${query('docker', 'containerd.io 2.2.1\ndocker-ce 28.5.1\ndocker-ce-cli 28.5.1\nrc 0')}\n${query('base', 'container-selinux 2.229.0\nrc 0')}`;

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
  const packageOf = (resources: Resource[]) => resources.find((r): r is PackageResource => r.kind === 'package')!;

  it('runs where the kubelet does', () => {
    const spec = clusterFrom(tmp(), PINNED);
    expect(spec.hosts.filter((h) => runtimePhase.appliesTo(h)).map((h) => h.name)).toEqual(['w1']);
  });

  it("on Debian 12 with the default config: Docker's apt repository (its key, then its file), as Debian's containerd 1.6 is too old, and says so", () => {
    const resources = runtimePhase.resources(setup().ctx);
    expect(summary(resources)).toEqual([
      'command docker-repository-key',
      'file /etc/apt/sources.list.d/docker.list',
      'file /etc/containerd/config.toml',
      'file /etc/docker/daemon.json',
      'package containerd.io,docker-ce,docker-ce-cli',
      'service containerd',
      'service docker',
    ]);
    const key = resources[0] as CommandResource;
    const keyring = /(\/etc\/apt\/keyrings\/docker-[0-9a-f]{12}\.asc)/.exec(key.check as string)![1];
    expect(key.run).toContain('/usr/lib/apt/apt-helper download-file https://download.docker.com/linux/debian/gpg');
    expect((resources[1] as FileResource).content).toBe(
      `# Managed by kubestrap; change it through config.properties.\ndeb [arch=amd64 signed-by=${keyring}] https://download.docker.com/linux/debian bookworm stable\n`,
    );
    expect(packageOf(resources).why).toEqual([
      "CONTAINER_RUNTIME_SOURCE=auto: Docker's repository https://download.docker.com/linux/debian (containerd v2.2.1): Debian GNU/Linux 12's own packages: containerd v1.6.20, which Kubernetes v1.35.0 does not support",
    ]);
  });

  it("on Ubuntu: the same, with its own $distro and suite in DOCKER_APT_REPO's URL", () => {
    const resources = runtimePhase.resources(setup('DOCKER_APT_REPO=https://mirrors.aliyun.com/docker-ce/linux/$distro\n', 'ubuntu2604', DEBIAN_FRESH).ctx);
    expect((resources[1] as FileResource).content).toMatch(/ https:\/\/mirrors\.aliyun\.com\/docker-ce\/linux\/ubuntu resolute stable\n$/);
  });

  it("on a Debian whose own containerd is supported: its packages, and the docker command's own package where they left it out", () => {
    const resources = runtimePhase.resources(setup('', 'debian13', DEBIAN_CURRENT).ctx);
    expect(summary(resources)).toEqual([
      'file /etc/containerd/config.toml',
      'file /etc/docker/daemon.json',
      'package containerd,docker.io',
      'command docker-command',
      'service containerd',
      'service docker',
    ]);
    expect(packageOf(resources).why).toEqual(["CONTAINER_RUNTIME_SOURCE=auto: Debian GNU/Linux 13's own packages (containerd v2.1.9)"]);
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

  it("on Debian 12 that cannot reach Docker's repository: the release binaries and their units, with both reasons", () => {
    const bundle = {
      containerdVersion: parseVersion('2.1.9')!,
      binaries: (): Resource[] => [{ kind: 'file', path: '/usr/local/bin/containerd', content: 'x', mode: 0o755, owner: 'root', group: 'root', restarts: ['containerd'] }],
    };
    const { ctx } = setup('', 'debian12', DEBIAN_OFFLINE);
    expect(summary(createRuntimePhase({ bundle }).resources(ctx))).toEqual([
      'file /etc/containerd/config.toml',
      'file /etc/docker/daemon.json',
      'file /usr/local/bin/containerd',
      'file /etc/systemd/system/containerd.service',
      'file /etc/systemd/system/docker.service',
      'service containerd',
      'service docker',
    ]);
  });

  it('wants nothing of a host without a source (its resources are worked out before the preflight refuses it)', () => {
    expect(runtimePhase.resources(setup(`CONTAINER_RUNTIME_SOURCE=package\n`, 'debian12', DEBIAN_OFFLINE).ctx)).toEqual([]);
  });

  it('refuses, before anything changes, a run that has no artifacts to take the release binaries from', async () => {
    const { spec, host, facts, ctx } = setup('', 'debian12', DEBIAN_OFFLINE);
    const problems = await runtimePhase.prepare!({ spec, mode: 'plan', hosts: [{ host, facts, os: ctx.os, files: [] }] });
    expect(problems.map((p) => p.format())).toEqual([
      'w1 CONTAINER_RUNTIME_SOURCE: takes the release binaries of containerd, runc and Docker, and this run has no artifacts to take them from\n  fix: run it through bootstrap plan or apply (with --bundle for an offline bundle)',
    ]);
  });

  it('on EL: the docker-ce repo file from DOCKER_YUM_REPO ahead of docker-ce, docker-ce-cli and containerd.io, and nothing more for the docker command', () => {
    const { ctx } = setup(
      'DOCKER_YUM_REPO=https://mirrors.aliyun.com/docker-ce/linux/centos/$releasever/$basearch/stable\nDOCKER_YUM_GPGKEY=https://mirrors.aliyun.com/docker-ce/linux/centos/gpg\n',
      'rocky93',
      EL_CANDIDATES,
    );
    const resources = runtimePhase.resources(ctx);
    expect(summary(resources)[0]).toBe('file /etc/yum.repos.d/docker-ce.repo');
    expect(summary(resources)).toContain('package containerd.io,docker-ce,docker-ce-cli');
    expect(summary(resources).filter((r) => r.startsWith('command'))).toEqual([]);
    expect((resources[0] as FileResource).content).toBe(
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
    expect(packageOf(resources).why![0]).toBe(
      "CONTAINER_RUNTIME_SOURCE=auto: Docker's repository https://mirrors.aliyun.com/docker-ce/linux/centos/$releasever/$basearch/stable (containerd v2.2.1): Rocky Linux 9.3's own repositories: no containerd",
    );
  });

  it('writes no repo file for the release binaries (bundle, the older name of static), and a hosts.toml per registry', () => {
    const bundle = { containerdVersion: parseVersion('2.3.0')!, binaries: () => [] };
    const { ctx } = setup('CONTAINER_RUNTIME_SOURCE=bundle\nDOCKER_REGISTRY_MIRRORS=https://m.example\nDOCKER_INSECURE_REGISTRIES=10.0.0.5:5000\n', 'rocky93', 'cgroup tmpfs');
    const resources = createRuntimePhase({ bundle }).resources(ctx);
    const names = summary(resources);
    expect(names.filter((n) => n.includes('yum.repos.d') || n.startsWith('package'))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['file /etc/containerd/certs.d/docker.io/hosts.toml', 'file /etc/containerd/certs.d/10.0.0.5:5000/hosts.toml']));
    const toml = resources.filter((r): r is FileResource => r.kind === 'file' && r.path.endsWith('hosts.toml'));
    expect(toml.map((r) => r.restarts)).toEqual([[], []]);
  });

  it('imports images only through a check on containerd, after the services start', () => {
    const { ctx } = setup();
    const archive = `${tmp()}/pause.tar`;
    writeFileSync(archive, 'not really an image');
    const phase = createRuntimePhase({ images: () => [{ ref: 'registry.k8s.io/pause:3.10', archive }] });
    const [file, command] = phase.resources(ctx).slice(-2);
    expect(file).toMatchObject({ kind: 'file', path: '/var/lib/kubestrap/images/pause.tar', restarts: [] });
    expect(command).toMatchObject({ kind: 'command', check: { list: 'ctr -n k8s.io images ls -q', line: 'registry.k8s.io/pause:3.10' }, afterServices: true });
  });

  describe('host values', () => {
    it('cgroupfs on a cgroup v1 Debian host, systemd on cgroup v2, on EL, and for a host not read yet', () => {
      const { host } = setup();
      expect(hostValues(host, hostFacts('debian12', DEBIAN_FRESH)).CGROUP_DRIVER).toBe('cgroupfs');
      expect(hostValues(host, hostFacts('debian12', 'cgroup cgroup2fs')).CGROUP_DRIVER).toBe('systemd');
      expect(hostValues(host, hostFacts('centos7', 'cgroup tmpfs')).CGROUP_DRIVER).toBe('systemd');
      expect(hostValues(host, undefined).CGROUP_DRIVER).toBe('systemd');
    });

    it("containerd's config version from the containerd the host will run: installed, on offer from the chosen source, or the release binaries'", () => {
      const { host } = setup();
      expect(hostValues(host, hostFacts('debian12', DEBIAN_INSTALLED)).CONTAINERD_CONFIG_VERSION).toBe('2');
      // Debian's own 1.6 is on offer too, but Docker's 2.2 is what the host gets.
      expect(hostValues(host, hostFacts('debian12', DEBIAN_FRESH)).CONTAINERD_CONFIG_VERSION).toBe('3');
      expect(hostValues(host, hostFacts('rocky93', EL_CANDIDATES)).CONTAINERD_CONFIG_VERSION).toBe('3');
      expect(
        hostValues(host, hostFacts('rocky93', 'cgroup tmpfs\ninstalled-containerd containerd containerd.io 2.2.1 75cb2b7\ninstalled-from docker\ninstalled-dockerd yes')).CONTAINERD_CONFIG_VERSION,
      ).toBe('3');
      // Not read yet: unknown (version 2, which containerd 2 converts), or CONTAINERD_VERSION's for the release binaries.
      expect(hostValues(host, undefined).CONTAINERD_CONFIG_VERSION).toBe('2');
      const statics = setup('CONTAINER_RUNTIME_SOURCE=static\n').host;
      expect(hostValues(statics, undefined).CONTAINERD_CONFIG_VERSION).toBe('3');
    });

    it('renders the same cgroup driver into containerd, Docker and the kubelet, and the config format for containerd 2', () => {
      const { file } = setup('', 'rocky93', EL_CANDIDATES);
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

    it('restrict_oom_score_adj where the host refuses a negative oom_score_adj (a container without CAP_SYS_RESOURCE), in both config formats', () => {
      const restricted = 'oom-score-adj restricted';
      const v3 = setup('', 'debian12', `${DEBIAN_FRESH}\n${restricted}`);
      expect(hostValues(v3.host, v3.facts).CONTAINERD_RESTRICT_OOM_SCORE_ADJ).toBe('true');
      expect(v3.file('/etc/containerd/config.toml')).toMatch(/\[plugins\.'io\.containerd\.cri\.v1\.runtime'\]\n(\s*#.*\n)*\s*restrict_oom_score_adj = true\n/);
      const v2 = setup('', 'debian12', `${DEBIAN_INSTALLED}\n${restricted}`);
      expect(v2.file('/etc/containerd/config.toml')).toMatch(/^version = 2$/m);
      expect(v2.file('/etc/containerd/config.toml')).toMatch(/\[plugins\."io\.containerd\.grpc\.v1\.cri"\]\n\s*sandbox_image = .*\n(\s*#.*\n)*\s*restrict_oom_score_adj = true\n/);
      // A host that lets root lower the score, or one not read yet: upstream's default, no line.
      expect(setup().file('/etc/containerd/config.toml')).not.toContain('restrict_oom_score_adj');
      expect(setup('', 'debian12', DEBIAN_INSTALLED).file('/etc/containerd/config.toml')).not.toContain('restrict_oom_score_adj');
    });

    it('the fact snippet tries the write in a subshell, so only that process changes', () => {
      expect(runtimeFactSnippet({ dataRoot: '/var/lib/docker' })).toContain("( echo -998 > /proc/self/oom_score_adj ) 2>/dev/null || echo 'oom-score-adj restricted'");
    });
  });

  describe('preflight', () => {
    const refuse = (spec: ClusterSpec, os: OsName, runtime: string, addresses?: string) => {
      const host = spec.hosts.find((h) => h.name === 'w1')!;
      const facts = hostFacts(os, runtime, addresses);
      return runtimePhase.preflight!({ spec, mode: 'apply', hosts: [{ host, facts, os: detectOs(host.name, facts), files: [] }] }).map((e) => e.format());
    };

    it('accepts Debian 12 with the default config (online or not), and a host with a supported runtime installed', () => {
      const spec = clusterFrom(tmp(), PINNED);
      expect(refuse(spec, 'debian12', DEBIAN_FRESH)).toEqual([]);
      expect(refuse(spec, 'debian12', DEBIAN_OFFLINE)).toEqual([]);
      expect(refuse(spec, 'debian12', DEBIAN_INSTALLED)).toEqual([]);
    });

    it("refuses Docker's repository alone where it cannot be read, naming the property, the repository and its last words", () => {
      const spec = clusterFrom(tmp(), `${PINNED}CONTAINER_RUNTIME_SOURCE=docker\nDOCKER_YUM_REPO=http://10.0.0.1:9/el/$releasever\n`);
      const out = refuse(spec, 'rocky93', `cgroup tmpfs\n${query('docker', "rc 1\n| Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml")}`);
      expect(out).toEqual([
        "w1 DOCKER_YUM_REPO: no containerd that Kubernetes v1.35.0 supports (containerd's table: 2.2.0+, 2.1.5+ or 1.7.28+) comes from CONTAINER_RUNTIME_SOURCE=docker: Docker's repository http://10.0.0.1:9/el/$releasever: could not be read (exit 1: Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml)\n" +
          "  fix: point DOCKER_YUM_REPO at a repository (or mirror) this host reaches, set CONTAINER_RUNTIME_SOURCE=auto or static (the release binaries), or choose a KUBE_VERSION that a containerd on offer supports, or, last, for a distribution's build with backported fixes, CONTAINERD_ALLOW_UNSUPPORTED=true (takes one outside the table, with a warning)",
      ]);
    });

    it("refuses package where neither the distribution nor Docker's repository has a supported containerd", () => {
      const spec = clusterFrom(tmp(), `${PINNED}CONTAINER_RUNTIME_SOURCE=package\n`);
      const [out] = refuse(spec, 'debian12', DEBIAN_OFFLINE);
      expect(out).toMatch(
        /^w1 CONTAINER_RUNTIME_SOURCE: no containerd that Kubernetes v1\.35\.0 supports .* comes from CONTAINER_RUNTIME_SOURCE=package: Debian GNU\/Linux 12's own packages: containerd v1\.6\.20/,
      );
    });

    it("refuses to install the same too-old packages again, and replaces a too-old distribution's containerd with Docker's", () => {
      const spec = clusterFrom(tmp(), `${PINNED}CONTAINER_RUNTIME_SOURCE=docker\n`);
      const stale = `cgroup tmpfs\ninstalled-containerd containerd containerd.io 1.6.33 abc\ninstalled-from docker\ninstalled-dockerd yes\n${DOCKER_APT}`;
      expect(refuse(spec, 'debian12', stale)[0]).toMatch(
        /^w1 CONTAINER_RUNTIME_SOURCE: containerd v1\.6\.33 \(installed from Docker's repository https:\/\/download\.docker\.com\/linux\/debian\) is not one/,
      );
      const old = `cgroup tmpfs\ninstalled-containerd containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\ninstalled-from distro\ninstalled-dockerd yes\n${DEBIAN12}\n${DOCKER_APT}`;
      expect(refuse(clusterFrom(tmp(), PINNED), 'debian12', old)).toEqual([]);
    });

    it('says what CentOS 7 past its end of life lacks when its own repositories cannot be read, and points at EL_BASE_REPO', () => {
      const spec = clusterFrom(tmp(), PINNED);
      const eol = query(
        'base',
        'rc 1\n| Could not retrieve mirrorlist http://mirrorlist.centos.org/?release=7&arch=x86_64&repo=os&infra=stock error was\n| 14: curl#6 - "Could not resolve host: mirrorlist.centos.org; Unknown error"',
      );
      const [out] = refuse(spec, 'centos7', `cgroup tmpfs\n${query('docker', 'rc unknown')}\n${eol}`);
      expect(out).toBe(
        'w1 EL_BASE_REPO: cannot read its own package repositories, where docker-ce\'s container-selinux comes from (exit 1: 14: curl#6 - "Could not resolve host: mirrorlist.centos.org; Unknown error"): CentOS 7 is past its end of life (30 June 2024): mirrorlist.centos.org is gone, and base, updates and extras live only on vault mirrors\n' +
          '  fix: set EL_BASE_REPO to a vault or local mirror of CentOS 7, e.g. https://vault.centos.org/7.9.2009 (kubestrap writes CentOS-Base.repo for it), or CONTAINER_RUNTIME_SOURCE=static for the release binaries',
      );
      const rocky = refuse(
        spec,
        'rocky93',
        `cgroup tmpfs\n${query('docker', 'containerd.io 2.2.1\ndocker-ce 28.5.1\ndocker-ce-cli 28.5.1\nrc 0')}\n${query('base', "rc 1\n| Error: Failed to download metadata for repo 'appstream'")}`,
      );
      expect(rocky[0]).toMatch(/^w1: cannot read its own package repositories, where docker-ce's container-selinux comes from \(exit 1: Error: Failed to download metadata for repo 'appstream'\)\n/);
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
