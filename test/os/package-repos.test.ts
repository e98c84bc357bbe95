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

  it("Debian: no file (docker.io and containerd are in the distribution's own archive)", () => {
    expect(debianAdapter.repoFile(OFFLINE)).toBeUndefined();
  });

  it("EL 7: yum-utils' repoquery answers, reading the repository by URL", () => {
    const dir = tmp();
    const env = fakeTools(dir, { repoquery: `printf '%s\\n' "$@" > ${dir}/args; echo 'containerd.io 1.6.33'` });
    const run = shRun(elAdapter(7, 'yum').candidateVersions(['containerd.io'], OFFLINE), env);
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
    expect(shRun(elAdapter(7, 'yum').candidateVersions(['containerd.io'], OFFLINE), env).stdout).toBe('containerd.io 1.6.33\nrc 0\n');
    expect(readFileSync(join(dir, 'args'), 'utf8').split('\n').slice(0, 4)).toEqual([
      '-q',
      '--repofrompath=kubestrap-docker-ce-stable,http://10.88.0.1:8001/docker-ce',
      '--repo=kubestrap-docker-ce-stable',
      'repoquery',
    ]);
  });

  it('EL 7 without yum-utils: cannot tell, which refuses nothing', () => {
    const env = { ...fakeTools(tmp(), {}), PATH: `${tmp()}/bin:/usr/bin:/bin` };
    expect(shRun(elAdapter(7, 'yum').candidateVersions(['containerd.io'], OFFLINE), env).stdout).toBe('rc unknown\n');
  });
});
