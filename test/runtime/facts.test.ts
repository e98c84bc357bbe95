import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRuntimeFacts, runtimeFactSnippet } from '../../src/runtime/facts.js';
import { fakeTools, shRun } from '../engine/support.js';
import { useTempDir } from '../support/tmp.js';

const REPO = { id: 'docker-ce-stable', fileName: 'docker-ce', name: 'Docker CE Stable', baseUrl: 'http://10.88.0.1:8001/$releasever/$basearch/stable', gpgKey: 'http://10.88.0.1:8001/RPM-GPG-KEY' };
const PACKAGES = { apt: ['containerd', 'docker.io'], el: ['containerd.io', 'docker-ce', 'docker-ce-cli'], repo: REPO };

describe('runtime facts', () => {
  const tmp = useTempDir();

  describe('the snippet, run for real with a fake dnf', () => {
    it('asks the docker-ce repository by URL (no repo file needed yet), with $releasever and $basearch filled in', () => {
      const dir = tmp();
      const env = fakeTools(dir, {
        dnf: `printf '%s\\n' "$@" > ${dir}/args; printf 'containerd.io 1.7.22\\n\\ndocker-ce 28.5.1\\ndocker-ce-cli 28.5.1\\n'`,
      });
      const run = shRun(runtimeFactSnippet({ packages: PACKAGES, dataRoot: '/var/lib/docker' }), env);
      const facts = parseRuntimeFacts(run.stdout);
      expect(Object.fromEntries(facts.candidates ?? [])).toEqual({ 'containerd.io': '1.7.22', 'docker-ce': '28.5.1', 'docker-ce-cli': '28.5.1' });
      expect(facts.queryFailure).toBeUndefined();
      const release = /^VERSION_ID="?(\d+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
      const machine = shRun('uname -m').stdout.trim();
      expect(readFileSync(join(dir, 'args'), 'utf8').split('\n')).toEqual([
        '-q',
        `--repofrompath=kubestrap-docker-ce-stable,http://10.88.0.1:8001/${release}/${machine}/stable`,
        '--repo=kubestrap-docker-ce-stable',
        'repoquery',
        '--qf',
        // A real newline: dnf 5 adds none of its own, dnf 4 does (its empty lines are dropped).
        '%{name} %{version}',
        '',
        'containerd.io',
        'docker-ce',
        'docker-ce-cli',
        '',
      ]);
    });

    it("reports an unreachable repository with dnf's own last words", () => {
      const env = fakeTools(tmp(), {
        dnf: "echo 'Errors during downloading metadata for repository kubestrap-docker-ce-stable:' >&2; echo \"Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml: Curl error (7): Couldn't connect to server\" >&2; exit 1",
      });
      const facts = parseRuntimeFacts(shRun(runtimeFactSnippet({ packages: PACKAGES, dataRoot: '/var/lib/docker' }), env).stdout);
      expect(facts.candidates).toBeUndefined();
      expect(facts.queryFailure?.exitCode).toBe(1);
      expect(facts.queryFailure?.output.split('\n').at(-1)).toBe(
        "Error: Failed to download metadata for repo 'kubestrap-docker-ce-stable': Cannot download repomd.xml: Curl error (7): Couldn't connect to server",
      );
    });

    it("asks nothing once containerd and dockerd are installed, and reads the installed containerd's version", () => {
      const dir = tmp();
      const env = fakeTools(dir, {
        containerd: 'echo "containerd containerd.io 1.7.22 7f7fdf5fed64eb6a7caf99b3e12efcf9d60e311c"',
        dockerd: 'exit 0',
        dnf: `touch ${dir}/asked`,
      });
      const run = shRun(runtimeFactSnippet({ packages: PACKAGES, dataRoot: '/var/lib/docker' }), env);
      const facts = parseRuntimeFacts(run.stdout);
      expect(facts.containerd?.tag).toBe('v1.7.22');
      expect(facts.docker).toBe(true);
      expect(facts.candidates).toBeUndefined();
      expect(shRun(`test -e ${dir}/asked`).code).not.toBe(0);
    });

    it('asks no package manager for a bundle install', () => {
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
    it('reads a Debian host without package lists as "cannot tell", not as "nothing found"', () => {
      const facts = parseRuntimeFacts('cgroup tmpfs\nquery begin\nrc unknown\nquery end');
      expect(facts).toMatchObject({ cgroupVersion: 1, docker: false, dataRootTopMissing: false, unmountedDataRootMounts: [] });
      expect(facts.candidates).toBeUndefined();
      expect(facts.queryFailure).toBeUndefined();
    });

    it("reads apt's candidates, a cgroup v2 host and an unmounted disk", () => {
      const facts = parseRuntimeFacts('cgroup cgroup2fs\nquery begin\ncontainerd 1.6.20~ds1-1+deb12u3\ndocker.io 20.10.24+dfsg1-1+deb12u1+b6\nrc 0\nquery end\nunmounted /data');
      expect(facts.cgroupVersion).toBe(2);
      expect(Object.fromEntries(facts.candidates!)).toEqual({ containerd: '1.6.20~ds1-1+deb12u3', 'docker.io': '20.10.24+dfsg1-1+deb12u1+b6' });
      expect(facts.unmountedDataRootMounts).toEqual(['/data']);
    });

    it("does not take a failed query's output for the snippet's own lines", () => {
      const facts = parseRuntimeFacts('cgroup tmpfs\nquery begin\nrc 1\nunmounted /data\nquery end\nquery end\ninstalled-dockerd yes\nquery end');
      expect(facts.queryFailure).toEqual({ exitCode: 1, output: 'unmounted /data\nquery end\nquery end\ninstalled-dockerd yes' });
      expect(facts.unmountedDataRootMounts).toEqual([]);
      expect(facts.docker).toBe(false);
    });

    it('reads the snippet missing entirely (a host the phase does not concern) as cgroup v1 with nothing known', () => {
      expect(parseRuntimeFacts(undefined)).toEqual({ cgroupVersion: 1, docker: false, unmountedDataRootMounts: [], dataRootTopMissing: false });
    });
  });
});
