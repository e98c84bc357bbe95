import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PackageRepo } from '../../src/os/adapter.js';
import { debianAdapter } from '../../src/os/debian.js';
import { elAdapter } from '../../src/os/el.js';
import { fakeTools, shRun } from '../engine/support.js';
import { useTempDir } from '../support/tmp.js';

const OFFLINE: PackageRepo = {
  id: 'docker-ce-stable',
  fileName: 'docker-ce',
  name: 'Docker CE Stable - $basearch',
  baseUrl: 'http://10.88.0.1:8001/docker-ce',
  gpgKey: 'http://10.88.0.1:8001/RPM-GPG-KEY',
};

describe('package repositories and candidates per family', () => {
  const tmp = useTempDir();

  it('EL: a yum.repos.d file whose packages install only with a valid signature', () => {
    expect(elAdapter(9, 'dnf').repoFile(OFFLINE)).toEqual({
      path: '/etc/yum.repos.d/docker-ce.repo',
      content:
        '# Managed by kubestrap; change it through config.properties.\n[docker-ce-stable]\nname=Docker CE Stable - $basearch\nbaseurl=http://10.88.0.1:8001/docker-ce\nenabled=1\ngpgcheck=1\ngpgkey=http://10.88.0.1:8001/RPM-GPG-KEY\n',
    });
  });

  it("Debian: one apt line for the host's suite and architecture, signed by the key kubestrap fetches next to it", () => {
    const repo: PackageRepo = {
      ...OFFLINE,
      id: 'docker',
      fileName: 'docker',
      baseUrl: 'https://download.docker.com/linux/debian',
      gpgKey: 'https://download.docker.com/linux/debian/gpg',
      suite: 'bookworm',
      arch: 'amd64',
    };
    const key = debianAdapter.repoKey(repo)!;
    expect(key.path).toMatch(/^\/etc\/apt\/keyrings\/docker-[0-9a-f]{12}\.asc$/);
    expect(debianAdapter.repoFile(repo)).toEqual({
      path: '/etc/apt/sources.list.d/docker.list',
      content: `# Managed by kubestrap; change it through config.properties.\ndeb [arch=amd64 signed-by=${key.path}] https://download.docker.com/linux/debian bookworm stable\n`,
    });
    // Another key URL is another file: the new key is fetched, never mistaken for the old one.
    expect(debianAdapter.repoKey({ ...repo, gpgKey: 'https://mirror.example/docker/gpg' })!.path).not.toBe(key.path);
    expect(key.fetch).toBe(
      `install -d -m 0755 -- /etc/apt/keyrings && /usr/lib/apt/apt-helper download-file https://download.docker.com/linux/debian/gpg ${key.path}.part && chmod 0644 -- ${key.path}.part && mv -f -- ${key.path}.part ${key.path}`,
    );
    expect(() => debianAdapter.repoFile({ ...repo, suite: undefined as unknown as string })).toThrow('no suite or architecture');
    expect(elAdapter(9, 'dnf').repoKey(OFFLINE)).toBeUndefined();
  });

  it("Debian: asks Docker's repository in a folder of its own, the URL's $distro and the suite from os-release, and hands back apt's last words on failure", () => {
    const dir = tmp();
    const env = fakeTools(dir, {
      'apt-get': `for a; do case "$a" in Dir::Etc::SourceList=*) cp "\${a#*=}" ${dir}/sources;; esac; done; printf '%s\n' "$@" > ${dir}/update-args; echo "E: Failed to fetch https://download.docker.com/linux/debian/dists/bookworm/InRelease  Could not resolve 'download.docker.com'"; exit 100`,
    });
    const repo: PackageRepo = { ...OFFLINE, baseUrl: 'https://download.docker.com/linux/$distro' };
    const run = shRun(debianAdapter.candidateVersions(['containerd.io'], [repo]), env);
    expect(run.stdout).toBe(
      "rc 100\n| E: Failed to fetch https://download.docker.com/linux/debian/dists/bookworm/InRelease  Could not resolve 'download.docker.com'\n"
        .replace('debian', osId())
        .replace('bookworm', osCodename()),
    );
    expect(readFileSync(join(dir, 'sources'), 'utf8')).toBe(`deb [trusted=yes] https://download.docker.com/linux/${osId()} ${osCodename()} stable\n`);
    const args = readFileSync(join(dir, 'update-args'), 'utf8').split('\n');
    // Its own lists, never the host's; only kubestrap's source; unreachable sources fail the update.
    expect(args).toEqual(
      expect.arrayContaining(['APT::Update::Error-Mode=any', 'Dir::Etc::SourceParts=' + args.find((a) => a.startsWith('Dir::Etc::SourceParts='))!.slice('Dir::Etc::SourceParts='.length), 'update']),
    );
    expect(args.find((a) => a.startsWith('Dir::State::Lists='))).toMatch(/^Dir::State::Lists=\/tmp\//);
  });

  it('Debian: an older apt that only warns about an unreachable source fails the question all the same', () => {
    const env = fakeTools(tmp(), { 'apt-get': "echo 'W: Failed to fetch http://10.0.0.1/dists/x/InRelease  Connection refused'; exit 0", 'apt-cache': 'echo never asked; exit 1' });
    expect(shRun(debianAdapter.candidateVersions(['containerd.io'], [OFFLINE]), env).stdout).toBe('rc 100\n| W: Failed to fetch http://10.0.0.1/dists/x/InRelease  Connection refused\n');
  });

  it("Debian: the distribution's candidates from the host's package lists, or a private update of its own sources where it has none", () => {
    const dir = tmp();
    const policy = "printf 'containerd:\\n  Installed: (none)\\n  Candidate: 1.6.20~ds1-1+deb12u3\\ndocker.io:\\n  Installed: (none)\\n  Candidate: (none)\\n'";
    const env = fakeTools(dir, { 'apt-get': `touch ${dir}/updated`, 'apt-cache': policy });
    const out = shRun(debianAdapter.candidateVersions(['containerd', 'docker.io']), env).stdout;
    expect(out).toBe('containerd 1.6.20~ds1-1+deb12u3\nrc 0\n');
  });

  it("EL 7: yum-utils' repoquery answers, reading the repository by URL", () => {
    const dir = tmp();
    const env = fakeTools(dir, { repoquery: `printf '%s\\n' "$@" > ${dir}/args; echo 'containerd.io 1.6.33'` });
    const run = shRun(elAdapter(7, 'yum').candidateVersions(['containerd.io'], [OFFLINE]), env);
    expect(run.stdout).toBe('containerd.io 1.6.33\nrc 0\n');
    expect(readFileSync(join(dir, 'args'), 'utf8').split('\n').slice(0, 3)).toEqual([
      '-q',
      '--repofrompath=kubestrap-docker-ce-stable,http://10.88.0.1:8001/docker-ce',
      '--repoid=kubestrap-docker-ce-stable',
    ]);
  });

  it("a yum that is dnf underneath (EL 8+, and the lab's EL 7) answers itself", () => {
    const dir = tmp();
    const env = { ...fakeTools(dir, { yum: `[ "$1 $2" = "repoquery --help" ] && exit 0; printf '%s\\n' "$@" > ${dir}/args; echo 'containerd.io 1.6.33'` }), PATH: `${dir}/bin:/usr/bin:/bin` };
    expect(shRun(elAdapter(7, 'yum').candidateVersions(['containerd.io'], [OFFLINE]), env).stdout).toBe('containerd.io 1.6.33\nrc 0\n');
    expect(readFileSync(join(dir, 'args'), 'utf8').split('\n').slice(0, 4)).toEqual([
      '-q',
      '--repofrompath=kubestrap-docker-ce-stable,http://10.88.0.1:8001/docker-ce',
      '--repo=kubestrap-docker-ce-stable',
      'repoquery',
    ]);
  });

  it('EL: several repositories by URL at once (a vault mirror of base, updates and extras), and a failure behind `| `', () => {
    const dir = tmp();
    const env = { ...fakeTools(dir, { dnf: `printf '%s\\n' "$@" > ${dir}/args; echo "Error: Failed to download metadata for repo 'kubestrap-extras'" >&2; exit 1` }) };
    const repos = ['base', 'extras'].map((id) => ({ ...OFFLINE, id, baseUrl: `https://vault.centos.org/7.9.2009/${id}/$basearch/` }));
    const run = shRun(elAdapter(9, 'dnf').candidateVersions(['container-selinux'], repos), env);
    expect(run.stdout).toBe("rc 1\n| Error: Failed to download metadata for repo 'kubestrap-extras'\n");
    const machine = shRun('uname -m').stdout.trim();
    expect(readFileSync(join(dir, 'args'), 'utf8').split('\n').slice(0, 6)).toEqual([
      '-q',
      `--repofrompath=kubestrap-base,https://vault.centos.org/7.9.2009/base/${machine}/`,
      `--repofrompath=kubestrap-extras,https://vault.centos.org/7.9.2009/extras/${machine}/`,
      '--repo=kubestrap-base',
      '--repo=kubestrap-extras',
      'repoquery',
    ]);
  });

  it('EL 7 without yum-utils: cannot tell, which refuses nothing', () => {
    const env = { ...fakeTools(tmp(), {}), PATH: `${tmp()}/bin:/usr/bin:/bin` };
    expect(shRun(elAdapter(7, 'yum').candidateVersions(['containerd.io'], [OFFLINE]), env).stdout).toBe('rc unknown\n');
  });
});

function osRelease(key: string): string {
  return shRun(`. /etc/os-release && printf '%s' "$${key}"`).stdout;
}
const osId = () => osRelease('ID');
const osCodename = () => osRelease('VERSION_CODENAME');
