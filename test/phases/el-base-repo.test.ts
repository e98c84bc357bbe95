import { describe, expect, it } from 'vitest';
import type { FileResource } from '../../src/engine/resource.js';
import { detectOs } from '../../src/os/detect.js';
import { osPhase } from '../../src/phases/os-prep.js';
import { factsFor, type OsName } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

describe("EL_BASE_REPO: EL 7's own repositories at a vault or local mirror", () => {
  const tmp = useTempDir();

  function hostOn(os: OsName, config: string) {
    const spec = clusterFrom(tmp(), config);
    const host = spec.hosts.find((h) => h.name === 'm1')!;
    const facts = factsFor(os);
    return { spec, host, facts, os: detectOs(host.name, facts), files: [] };
  }

  it('writes CentOS-Base.repo for the mirror first, under the ids the release uses, signed by its own key', () => {
    const [first] = osPhase.resources(hostOn('centos7', 'EL_BASE_REPO=https://vault.centos.org/7.9.2009/\n'));
    expect(first).toMatchObject({ kind: 'file', path: '/etc/yum.repos.d/CentOS-Base.repo', mode: 0o644 });
    expect((first as FileResource).content).toBe(
      [
        '# Managed by kubestrap: EL_BASE_REPO in config.properties.',
        '[base]',
        'name=CentOS-7 - Base (https://vault.centos.org/7.9.2009)',
        'baseurl=https://vault.centos.org/7.9.2009/os/$basearch/',
        'enabled=1',
        'gpgcheck=1',
        'gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7',
        '',
        '[updates]',
        'name=CentOS-7 - Updates (https://vault.centos.org/7.9.2009)',
        'baseurl=https://vault.centos.org/7.9.2009/updates/$basearch/',
        'enabled=1',
        'gpgcheck=1',
        'gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7',
        '',
        '[extras]',
        'name=CentOS-7 - Extras (https://vault.centos.org/7.9.2009)',
        'baseurl=https://vault.centos.org/7.9.2009/extras/$basearch/',
        'enabled=1',
        'gpgcheck=1',
        'gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7',
        '',
      ].join('\n'),
    );
  });

  it("leaves the release's own file alone where it is empty", () => {
    const files = osPhase.resources(hostOn('centos7', '')).filter((r) => r.kind === 'file' && r.path.startsWith('/etc/yum.repos.d/'));
    expect(files).toEqual([]);
  });

  it('refuses a mirror for a host of another release, before anything changes', () => {
    const ctx = hostOn('rocky93', 'EL_BASE_REPO=https://vault.centos.org/7.9.2009\n');
    const problems = osPhase.preflight!({ spec: ctx.spec, mode: 'apply', hosts: [ctx] }).filter((p) => p.format().includes('EL_BASE_REPO'));
    expect(problems.map((p) => p.format())).toEqual([
      "m1 EL_BASE_REPO: EL_BASE_REPO names a mirror of CentOS 7's repositories, and this host runs Rocky Linux 9.3 (Blue Onyx)\n  fix: set EL_BASE_REPO only for EL 7 hosts (per host, in the inventory's properties); point other releases' own .repo files at a mirror of theirs",
    ]);
    expect(osPhase.resources(ctx).filter((r) => r.kind === 'file' && r.path.startsWith('/etc/yum.repos.d/'))).toEqual([]);
  });
});
