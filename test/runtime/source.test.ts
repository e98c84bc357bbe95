import { describe, expect, it } from 'vitest';
import { chooseRuntimeSource, type PackageQuery, type RuntimeDecision, type RuntimeSituation, type RuntimeSourceSetting } from '../../src/runtime/source.js';
import { parseVersion } from '../../src/upstream/index.js';

const v = (text: string) => parseVersion(text)!;
const offers = (entries: Record<string, string>): PackageQuery => ({ candidates: new Map(Object.entries(entries)) });

/** What apt-cache policy said on Debian 11-13 and Debian unstable against Debian's archive (2026-12-07). */
const DEBIAN = {
  11: offers({ containerd: '1.4.13~ds1-1~deb11u4', 'docker.io': '20.10.5+dfsg1-1+deb11u2' }),
  12: offers({ containerd: '1.6.20~ds1-1+deb12u3', 'docker.io': '20.10.24+dfsg1-1+deb12u1+b6' }),
  13: offers({ containerd: '1.7.24~ds1-6+deb13u1', 'docker.io': '26.1.5+dfsg1-9+deb13u1+b1' }),
  unstable: offers({ containerd: '2.1.9~ds1-1', 'docker.io': '28.5.2+dfsg1-1', 'docker-cli': '28.5.2+dfsg1-1' }),
};
const DOCKER_REPO = offers({ 'containerd.io': '2.2.1', 'docker-ce': '29.1.3', 'docker-ce-cli': '29.1.3' });
const UNREACHABLE: PackageQuery = {
  failure: {
    exitCode: 100,
    output:
      "Err:1 https://download.docker.com/linux/debian bookworm InRelease\nE: Failed to fetch https://download.docker.com/linux/debian/dists/bookworm/InRelease  Could not resolve 'download.docker.com'",
  },
};

function situation(setting: RuntimeSourceSetting, distro: PackageQuery | undefined, docker: PackageQuery | undefined, more: Partial<RuntimeSituation> = {}): RuntimeSituation {
  return {
    setting,
    kube: v('1.36.0'),
    installed: { docker: false },
    distro: { label: "Debian GNU/Linux 12's own packages", packages: ['containerd', 'docker.io'], ...(distro ? { query: distro } : {}) },
    docker: {
      label: "Docker's repository https://download.docker.com/linux/debian",
      packages: ['containerd.io', 'docker-ce', 'docker-ce-cli'],
      key: 'DOCKER_APT_REPO',
      trustedWhenUnknown: true,
      ...(docker ? { query: docker } : {}),
    },
    static: { containerd: v('2.3.0'), label: 'downloaded' },
    ...more,
  };
}

const chosen = (d: RuntimeDecision) => ('choice' in d ? d.choice : undefined);
const refused = (d: RuntimeDecision) => ('refused' in d ? d.refused : undefined);

describe('where the runtime comes from', () => {
  it("takes Docker's repository on Debian 11, 12 and 13 by default: their own containerd is too old for 1.35 and later", () => {
    for (const release of [11, 12, 13] as const) {
      for (const kube of ['1.35.0', '1.36.0', '1.37.1']) {
        const choice = chosen(chooseRuntimeSource(situation('auto', DEBIAN[release], DOCKER_REPO, { kube: v(kube) })));
        expect(choice).toMatchObject({ source: 'docker', containerd: v('2.2.1'), packages: ['containerd.io', 'docker-ce', 'docker-ce-cli'] });
      }
    }
  });

  it("says why, naming what the distribution offers and the table's row", () => {
    const choice = chosen(chooseRuntimeSource(situation('auto', DEBIAN[12], DOCKER_REPO)))!;
    expect(choice.why).toBe(
      "CONTAINER_RUNTIME_SOURCE=auto: Docker's repository https://download.docker.com/linux/debian (containerd v2.2.1): Debian GNU/Linux 12's own packages: containerd v1.6.20, which Kubernetes v1.36.0 does not support",
    );
  });

  it('takes the distribution where its containerd is supported', () => {
    const choice = chosen(chooseRuntimeSource(situation('auto', DEBIAN.unstable, DOCKER_REPO, { kube: v('1.35.2') })))!;
    expect(choice).toMatchObject({ source: 'distro', containerd: v('2.1.9'), packages: ['containerd', 'docker.io'] });
    expect(choice.why).toBe("CONTAINER_RUNTIME_SOURCE=auto: Debian GNU/Linux 12's own packages (containerd v2.1.9)");
    expect(chosen(chooseRuntimeSource(situation('auto', offers({ containerd: '1.7.28~ds1-1', 'docker.io': '26.1.5' }), undefined, { kube: v('1.35.0') })))?.source).toBe('distro');
  });

  it("falls back to the release binaries when Docker's repository cannot be read, and says both reasons", () => {
    const choice = chosen(chooseRuntimeSource(situation('auto', DEBIAN[12], UNREACHABLE, { kube: v('1.35.0'), static: { containerd: v('2.1.9'), label: 'from the offline bundle' } })))!;
    expect(choice).toMatchObject({ source: 'static', containerd: v('2.1.9'), packages: [] });
    expect(choice.why).toBe(
      "CONTAINER_RUNTIME_SOURCE=auto: the static release binaries from the offline bundle (containerd v2.1.9): Debian GNU/Linux 12's own packages: containerd v1.6.20, which Kubernetes v1.35.0 does not support; Docker's repository https://download.docker.com/linux/debian: could not be read (exit 100: E: Failed to fetch https://download.docker.com/linux/debian/dists/bookworm/InRelease  Could not resolve 'download.docker.com')",
    );
  });

  it("takes Docker's repository on trust where the host cannot say what it offers (EL 7 without repoquery), never the distribution", () => {
    const unknown: PackageQuery = {};
    expect(chosen(chooseRuntimeSource(situation('auto', unknown, unknown)))).toMatchObject({ source: 'docker', packages: ['containerd.io', 'docker-ce', 'docker-ce-cli'] });
    const el = situation('package', undefined, unknown, { distro: { label: "EL's own repositories", packages: [] } });
    expect(chosen(chooseRuntimeSource(el))?.why).toBe(
      "CONTAINER_RUNTIME_SOURCE=package: Docker's repository https://download.docker.com/linux/debian (the host could not say which containerd is there): EL's own repositories: no containerd",
    );
  });

  it('package: the distribution or Docker, never the release binaries; refused when neither has a supported containerd', () => {
    expect(chosen(chooseRuntimeSource(situation('package', DEBIAN[13], DOCKER_REPO)))?.source).toBe('docker');
    const out = refused(chooseRuntimeSource(situation('package', DEBIAN[13], UNREACHABLE)))!;
    expect(out.key).toBe('CONTAINER_RUNTIME_SOURCE');
    expect(out.message).toMatch(
      /^no containerd that Kubernetes v1\.36\.0 supports \(containerd's table: 2\.3\.0\+ or 2\.2\.0\+\) comes from CONTAINER_RUNTIME_SOURCE=package: Debian GNU\/Linux 12's own packages: containerd v1\.7\.24/,
    );
    expect(out.hint).toBe(
      "point DOCKER_APT_REPO at a repository (or mirror) this host reaches, set CONTAINER_RUNTIME_SOURCE=auto or static (the release binaries), or choose a KUBE_VERSION that a containerd on offer supports, or, last, for a distribution's build with backported fixes, CONTAINERD_ALLOW_UNSUPPORTED=true (takes one outside the table, with a warning)",
    );
  });

  it('docker: only Docker, even where the distribution would do', () => {
    expect(chosen(chooseRuntimeSource(situation('docker', DEBIAN.unstable, DOCKER_REPO, { kube: v('1.35.0') })))?.source).toBe('docker');
    expect(refused(chooseRuntimeSource(situation('docker', DEBIAN.unstable, UNREACHABLE)))?.key).toBe('DOCKER_APT_REPO');
  });

  it('static (and its old name bundle): the release binaries at CONTAINERD_VERSION, refused where that containerd is not supported', () => {
    expect(chosen(chooseRuntimeSource(situation('bundle', DEBIAN[12], undefined)))).toMatchObject({ source: 'static', containerd: v('2.3.0') });
    const out = refused(chooseRuntimeSource(situation('static', undefined, undefined, { static: { containerd: v('1.7.28'), label: 'downloaded' } })))!;
    expect(out.key).toBe('CONTAINERD_VERSION');
    expect(out.hint).toContain('set CONTAINERD_VERSION to a release it supports (2.3.0+ or 2.2.0+)');
  });

  it('keeps an installed, supported runtime where it came from, without asking anything', () => {
    const installed = { containerd: v('2.2.1'), docker: true, from: 'docker' as const };
    const choice = chosen(chooseRuntimeSource(situation('auto', undefined, undefined, { installed })))!;
    expect(choice).toMatchObject({ source: 'docker', containerd: v('2.2.1'), packages: ['containerd.io', 'docker-ce', 'docker-ce-cli'] });
    expect(choice.why).toBe("CONTAINER_RUNTIME_SOURCE=auto: containerd v2.2.1 from Docker's repository https://download.docker.com/linux/debian is installed, and Kubernetes v1.36.0 supports it");
    // The release binaries stay too (a later run must not go looking for packages).
    const statics = chosen(chooseRuntimeSource(situation('auto', undefined, undefined, { installed: { containerd: v('2.3.0'), docker: true, from: 'static' } })))!;
    expect(statics).toMatchObject({ source: 'static', containerd: v('2.3.0') });
    // An explicit setting that excludes it moves it.
    expect(chosen(chooseRuntimeSource(situation('static', undefined, undefined, { installed })))?.source).toBe('static');
  });

  it("replaces a distribution's containerd that is too old with Docker's, and refuses to install the same too-old packages again", () => {
    const old = { containerd: v('1.6.20'), docker: true, from: 'distro' as const };
    expect(chosen(chooseRuntimeSource(situation('auto', DEBIAN[12], DOCKER_REPO, { installed: old })))?.source).toBe('docker');
    const stale = { containerd: v('2.1.4'), docker: true, from: 'docker' as const };
    const out = refused(chooseRuntimeSource(situation('docker', undefined, offers({ 'containerd.io': '2.2.1', 'docker-ce': '29.1.3', 'docker-ce-cli': '29.1.3' }), { installed: stale })))!;
    expect(out.message).toContain('containerd v2.1.4 (installed from Docker');
    expect(out.hint).toMatch(/^upgrade containerd on this host to 2\.3\.0\+ or 2\.2\.0\+/);
  });

  it('CONTAINERD_ALLOW_UNSUPPORTED: takes a containerd outside the table only where nothing in it is on offer, with a warning naming the row', () => {
    const oldStatic = { static: { containerd: v('1.6.20'), label: 'from the offline bundle' } };
    // Refused without it, and the refusal names the way out.
    const out = refused(chooseRuntimeSource(situation('static', undefined, undefined, { ...oldStatic, kube: v('1.35.0') })))!;
    expect(out.hint).toContain('CONTAINERD_ALLOW_UNSUPPORTED=true');
    const choice = chosen(chooseRuntimeSource(situation('static', undefined, undefined, { ...oldStatic, kube: v('1.35.0'), allowUnsupported: true })))!;
    expect(choice).toMatchObject({ source: 'static', containerd: v('1.6.20') });
    expect(choice.why).toContain("WARNING: containerd v1.6.20 is outside containerd's table for Kubernetes 1.35 (2.2.0+, 2.1.5+ or 1.7.28+), taken because CONTAINERD_ALLOW_UNSUPPORTED=true");
    // A supported source still wins: Docker's repository over Debian 12's own 1.6.20.
    const auto = chosen(chooseRuntimeSource(situation('auto', DEBIAN[12], DOCKER_REPO, { allowUnsupported: true })))!;
    expect(auto.source).toBe('docker');
    expect(auto.why).not.toContain('WARNING');
    // Nothing supported on offer: the distribution's, first in auto's order.
    expect(chosen(chooseRuntimeSource(situation('package', DEBIAN[12], UNREACHABLE, { allowUnsupported: true })))).toMatchObject({ source: 'distro', containerd: v('1.6.20') });
    // An installed one stays where it came from, as a supported one does.
    const installed = { containerd: v('2.1.9'), docker: true, from: 'distro' as const };
    const kept = chosen(chooseRuntimeSource(situation('package', DEBIAN.unstable, UNREACHABLE, { installed, allowUnsupported: true })))!;
    expect(kept).toMatchObject({ source: 'distro', containerd: v('2.1.9') });
    expect(kept.why).toContain('is installed, and Kubernetes v1.36.0 runs with it; WARNING: containerd v2.1.9 is outside');
  });
});
