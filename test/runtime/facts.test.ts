import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGED_CONTAINERD, parseRuntimeFacts, runtimeFactSnippet, type RuntimeFactInput } from '../../src/runtime/facts.js';
import { parseVersion } from '../../src/upstream/index.js';
import { fakeTools, shRun } from '../engine/support.js';
import { useTempDir } from '../support/tmp.js';

const YUM_REPO = {
  id: 'docker-ce-stable',
  fileName: 'docker-ce',
  name: 'Docker CE Stable',
  baseUrl: 'http://10.88.0.1:8001/$releasever/$basearch/stable',
  gpgKey: 'http://10.88.0.1:8001/RPM-GPG-KEY',
};
const APT_REPO = { id: 'docker', fileName: 'docker', name: 'Docker CE', baseUrl: 'http://10.88.0.1:8001/linux/$distro', gpgKey: 'http://10.88.0.1:8001/linux/$distro/gpg' };
const DOCKER = ['containerd.io', 'docker-ce', 'docker-ce-cli'];
/** What a host is asked when containerd is to be chosen under Kubernetes 1.35 (oldest supported: 1.7.28). */
const QUERIES: NonNullable<RuntimeFactInput['queries']> = {
  oldest: parseVersion('1.7.28')!,
  distro: ['containerd', 'docker.io'],
  docker: { names: DOCKER, apt: APT_REPO, el: YUM_REPO },
  base: { names: ['container-selinux'], repos: [] },
};
const ASKED = { queries: QUERIES, dataRoot: '/var/lib/docker' };

describe('runtime facts', () => {
  const tmp = useTempDir();

  describe('the snippet, run for real with fake package managers', () => {
    it("asks Docker's yum repository by URL (no repo file needed yet), with $releasever and $basearch filled in, and the host's own repositories", () => {
      const dir = tmp();
      const env = fakeTools(dir, {
        dnf: `printf '%s\\n' "$@" >> ${dir}/args; echo ---- >> ${dir}/args; case "$*" in *container-selinux*) echo 'container-selinux 2.229.0';; *) printf 'containerd.io 1.7.22\\n\\ndocker-ce 28.5.1\\ndocker-ce-cli 28.5.1\\n';; esac`,
      });
      const facts = parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), env).stdout);
      expect(Object.fromEntries(facts.dockerRepo?.candidates ?? [])).toEqual({ 'containerd.io': '1.7.22', 'docker-ce': '28.5.1', 'docker-ce-cli': '28.5.1' });
      expect(Object.fromEntries(facts.baseRepos?.candidates ?? [])).toEqual({ 'container-selinux': '2.229.0' });
      expect(facts.distro).toBeUndefined();
      const release = /^VERSION_ID="?(\d+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
      const machine = shRun('uname -m').stdout.trim();
      const [docker, base] = readFileSync(join(dir, 'args'), 'utf8').split('----\n');
      expect(docker!.split('\n')).toEqual([
        '-q',
        `--repofrompath=kubestrap-docker-ce-stable,http://10.88.0.1:8001/${release}/${machine}/stable`,
        '--repo=kubestrap-docker-ce-stable',
        'repoquery',
        '--qf',
        // A real newline: dnf 5 adds none of its own, dnf 4 does (its empty lines are dropped).
        '%{name} %{version}',
        '',
        ...DOCKER,
        '',
      ]);
      // The host's own repositories: no --repo, so dnf reads every one it has enabled.
      expect(base!.split('\n').slice(0, 2)).toEqual(['-q', 'repoquery']);
    });

    it("reports an unreachable repository with dnf's own last words, none of which can pass for the snippet's lines", () => {
      const env = fakeTools(tmp(), {
        dnf: "echo 'query docker end' >&2; echo 'installed-dockerd yes' >&2; echo \"Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml: Curl error (7): Couldn't connect to server\" >&2; exit 1",
      });
      const facts = parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), env).stdout);
      expect(facts.dockerRepo?.candidates).toBeUndefined();
      expect(facts.dockerRepo?.failure?.exitCode).toBe(1);
      expect(facts.dockerRepo?.failure?.output.split('\n')).toEqual([
        'query docker end',
        'installed-dockerd yes',
        "Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml: Curl error (7): Couldn't connect to server",
      ]);
      expect(facts.docker).toBe(false);
      expect(facts.baseRepos?.failure?.exitCode).toBe(1);
    });

    it("asks nothing once a supported containerd and dockerd are installed, and reads the installed containerd's version and package", () => {
      const dir = tmp();
      const env = fakeTools(dir, {
        containerd: 'echo "containerd containerd.io 2.2.1 7f7fdf5fed64eb6a7caf99b3e12efcf9d60e311c"',
        dockerd: 'exit 0',
        rpm: 'for a; do :; done; [ "$1 $2 $a" = "-q --qf containerd.io" ] && echo 2.2.1',
        dnf: `touch ${dir}/asked`,
      });
      const facts = parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), env).stdout);
      expect(facts.containerd?.tag).toBe('v2.2.1');
      expect(facts).toMatchObject({ docker: true, installedFrom: 'docker' });
      expect(facts.dockerRepo).toBeUndefined();
      expect(shRun(`test -e ${dir}/asked`).code).not.toBe(0);
    });

    it("asks again where the installed containerd is older than any the Kubernetes version supports (the distribution's, here)", () => {
      const dir = tmp();
      const env = fakeTools(dir, {
        containerd: 'echo "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"',
        dockerd: 'exit 0',
        rpm: 'exit 1',
        // One query for both packages; containerd.io known but not installed.
        'dpkg-query': "printf 'un |containerd.io|\\nii |containerd|1.6.20~ds1-1+deb12u3\\n'",
        dnf: `touch ${dir}/asked; echo 'containerd.io 2.2.1'`,
      });
      const facts = parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), env).stdout);
      expect(facts).toMatchObject({ installedFrom: 'distro', docker: true });
      expect(facts.containerd?.tag).toBe('v1.6.20');
      expect(shRun(`test -e ${dir}/asked`).code).toBe(0);
      // At the oldest supported release, or past it, nothing is asked.
      const current = fakeTools(tmp(), { containerd: 'echo "containerd github.com/containerd/containerd 1.7.28~ds1 1.7.28~ds1-1"', dockerd: 'exit 0', dnf: 'exit 3' });
      expect(parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), current).stdout).dockerRepo).toBeUndefined();
    });

    it("reads a package's containerd version from the package database, without starting containerd", () => {
      const dir = tmp();
      const tools = { containerd: `touch ${dir}/started; echo "containerd x v9.9.9 abc"`, dockerd: 'exit 0', rpm: 'exit 1', dnf: 'exit 0' };
      const packaged = (dpkg: string) => {
        const env = fakeTools(dir, { ...tools, 'dpkg-query': dpkg });
        // As if the fake were the package's own binary.
        return parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED).replaceAll(PACKAGED_CONTAINERD, `${dir}/bin/containerd`), env).stdout);
      };
      expect(packaged("printf 'ii |containerd.io|1:1.7.29-1\\nii |containerd|2.1.9~ds1-5\\n'")).toMatchObject({ installedFrom: 'docker', containerd: { tag: 'v1.7.29' } });
      expect(packaged("printf 'un |containerd.io|\\nii |containerd|1.6.20~ds1-1\\n'")).toMatchObject({ installedFrom: 'distro', containerd: { tag: 'v1.6.20' } });
      expect(shRun(`test -e ${dir}/started`).code).not.toBe(0);
      // No package: the binary says its version.
      expect(packaged("printf 'un |containerd|\\n'")).toMatchObject({ installedFrom: 'static', containerd: { tag: 'v9.9.9' } });
      expect(shRun(`test -e ${dir}/started`).code).toBe(0);
    });

    it('compares versions field by field as numbers, as sort -V does', () => {
      const asks = (installed: string) => {
        const env = fakeTools(tmp(), { containerd: `echo "containerd x ${installed} abc"`, dockerd: 'exit 0', rpm: 'exit 1', 'dpkg-query': 'exit 1', dnf: "echo 'containerd.io 2.2.1'" });
        return parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), env).stdout).dockerRepo !== undefined;
      };
      // The oldest supported here is 1.7.28.
      expect(['1.7.27', '1.6.99', 'v1.7.9', '0.9', ''].map(asks)).toEqual([true, true, true, true, true]);
      expect(['1.7.28', 'v1.7.28', '1.7.28~ds1', '1.7.100', '1.8.0', '2.0.0', '10.0'].map(asks)).toEqual([false, false, false, false, false, false, false]);
    });

    it('takes a containerd that is no package for the release binaries', () => {
      const env = fakeTools(tmp(), { containerd: 'echo "containerd github.com/containerd/containerd/v2 v2.3.0 abc"', dockerd: 'exit 0', rpm: 'exit 1', 'dpkg-query': 'exit 1' });
      expect(parseRuntimeFacts(shRun(runtimeFactSnippet(ASKED), env).stdout)).toMatchObject({ installedFrom: 'static', containerd: { tag: 'v2.3.0' } });
    });

    it('asks no package manager for the release binaries', () => {
      const dir = tmp();
      const env = fakeTools(dir, { dnf: `touch ${dir}/asked` });
      shRun(runtimeFactSnippet({ dataRoot: '/var/lib/docker' }), env);
      expect(shRun(`test -e ${dir}/asked`).code).not.toBe(0);
    });

    it('finds a data root whose top-level folder is missing', () => {
      const facts = parseRuntimeFacts(shRun(runtimeFactSnippet({ dataRoot: '/kubestrap-no-such-disk/docker' })).stdout);
      expect(facts.dataRootTopMissing).toBe(true);
      expect(parseRuntimeFacts(shRun(runtimeFactSnippet({ dataRoot: '/var/lib/docker' })).stdout).dataRootTopMissing).toBe(false);
    });
  });

  describe('parsing recorded replies', () => {
    it('reads a query that cannot tell as such, not as "nothing found"', () => {
      const facts = parseRuntimeFacts('cgroup tmpfs\nquery docker begin\nrc unknown\nquery docker end');
      expect(facts).toMatchObject({ cgroupVersion: 1, docker: false, dataRootTopMissing: false, unmountedDataRootMounts: [] });
      expect(facts.dockerRepo).toEqual({});
    });

    it("reads apt's candidates per source, a cgroup v2 host and an unmounted disk", () => {
      const facts = parseRuntimeFacts(
        'cgroup cgroup2fs\nquery distro begin\ncontainerd 1.6.20~ds1-1+deb12u3\ndocker.io 20.10.24+dfsg1-1+deb12u1+b6\nrc 0\nquery distro end\nquery docker begin\ncontainerd.io 2.2.1-1~debian.12~bookworm\nrc 0\nquery docker end\nunmounted /data',
      );
      expect(facts.cgroupVersion).toBe(2);
      expect(Object.fromEntries(facts.distro!.candidates!)).toEqual({ containerd: '1.6.20~ds1-1+deb12u3', 'docker.io': '20.10.24+dfsg1-1+deb12u1+b6' });
      expect(Object.fromEntries(facts.dockerRepo!.candidates!)).toEqual({ 'containerd.io': '2.2.1-1~debian.12~bookworm' });
      expect(facts.unmountedDataRootMounts).toEqual(['/data']);
    });

    it("reads a failure's lines only behind their `| `", () => {
      const facts = parseRuntimeFacts('cgroup tmpfs\nquery docker begin\nrc 100\n| E: Failed to fetch x\nunmounted /data\nquery docker end\nunmounted /real');
      expect(facts.dockerRepo?.failure).toEqual({ exitCode: 100, output: 'E: Failed to fetch x' });
      expect(facts.unmountedDataRootMounts).toEqual(['/real']);
    });

    it('reads the snippet missing entirely (a host the phase does not concern) as cgroup v1 with nothing known', () => {
      expect(parseRuntimeFacts(undefined)).toEqual({ cgroupVersion: 1, docker: false, unmountedDataRootMounts: [], dataRootTopMissing: false, oomScoreAdjRestricted: false });
    });
  });
});
