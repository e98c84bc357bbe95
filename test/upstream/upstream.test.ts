import { describe, expect, it } from 'vitest';
import { digestFromChecksumFile } from '../../src/artifacts/checksum-file.js';
import {
  archOfMachine,
  artifactSources,
  binariesOf,
  DEFAULT_VERSIONS,
  defaultProjectVersions,
  DOWNLOAD_BASES,
  etcdBelowMinimum,
  KUBE_MINORS,
  kubeletRefusesCgroupV1,
  parseProjectVersion,
  parseVersion,
  pinnedEtcdTarball,
  pinnedTarballs,
  removedEtcdFlag,
  removedFlag,
  supportedKubeRange,
  type Project,
  type ProjectVersions,
} from '../../src/upstream/index.js';

const versions = defaultProjectVersions();
const v = (s: string) => parseVersion(s)!;

describe('the versions table', () => {
  it('supports v1.31 to v1.37 with everything each minor needs', () => {
    expect(supportedKubeRange()).toBe('v1.31.x to v1.37.x');
    expect(KUBE_MINORS.map((m) => m.minor)).toEqual([31, 32, 33, 34, 35, 36, 37]);
    for (const m of KUBE_MINORS) {
      expect(parseVersion(m.etcd), `etcd of 1.${m.minor}`).toBeDefined();
      expect(m.pause).toMatch(/^3\.\d+(\.\d+)?$/);
      expect(m.coredns).toMatch(/^v1\.\d+\.\d+$/);
      for (const [patch, t] of Object.entries(m.tarballs)) {
        expect(patch).toMatch(new RegExp(`^v1\\.${m.minor}\\.\\d+$`));
        for (const hex of [t.server.amd64, t.server.arm64, t.node.amd64, t.node.arm64]) expect(hex).toMatch(/^[0-9a-f]{128}$/);
      }
    }
  });

  it('defaults to the newest patch whose tarball checksums it pins', () => {
    expect(pinnedTarballs(v(DEFAULT_VERSIONS.kubernetes))).toBeDefined();
    const pinned = KUBE_MINORS.flatMap((m) => Object.keys(m.tarballs)).map(v);
    expect(pinned.every((p) => p.minor < v(DEFAULT_VERSIONS.kubernetes).minor || p.tag === DEFAULT_VERSIONS.kubernetes)).toBe(true);
  });

  it('knows when the kubelet refuses cgroup v1', () => {
    expect(kubeletRefusesCgroupV1(v('v1.34.7'))).toBe(false);
    expect(kubeletRefusesCgroupV1(v('v1.35.0'))).toBe(true);
  });

  it('knows what each version removed', () => {
    expect(removedFlag('kubelet', '--pod-infra-container-image', v('v1.35.0'))?.status).toBe('removed');
    expect(removedFlag('kubelet', '--pod-infra-container-image', v('v1.34.0'))?.status).toBe('deprecated');
    expect(removedFlag('kubelet', '--register-schedulable', v('v1.34.0'))?.removedIn).toBe('1.34');
    expect(removedFlag('kube-apiserver', '--cloud-provider', v('v1.32.3'))).toBeUndefined();
    expect(removedEtcdFlag('--enable-v2', v('v3.6.0'))?.status).toBe('removed');
    expect(removedEtcdFlag('--enable-v2', v('v3.5.21'))).toBeUndefined();
    expect(removedEtcdFlag('--experimental-compact-hash-check-enabled', v('v3.7.0'))?.instead).toContain('--compact-hash-check-enabled');
  });
});

describe('the artifact catalog', () => {
  const sources = (project: Project, arch: 'amd64' | 'arm64' = 'amd64', over: Partial<ProjectVersions> = {}) =>
    artifactSources({ project, version: { ...versions, ...over }[project], arch, binaries: binariesOf(project), bases: DOWNLOAD_BASES });

  it('takes a pinned Kubernetes release from its server tarball, checked against the CHANGELOG sha512', () => {
    const [s] = sources('kubernetes');
    expect(s!.url).toBe('https://dl.k8s.io/v1.36.0/kubernetes-server-linux-amd64.tar.gz');
    expect(s!.pinned).toEqual({ algorithm: 'sha512', hex: pinnedTarballs(v('v1.36.0'))!.server.amd64, from: 'the upstream CHANGELOG' });
    expect(s!.published!.url).toBe('https://dl.k8s.io/v1.36.0/kubernetes-server-linux-amd64.tar.gz.sha256');
    expect(s!.layout).toMatchObject({ kind: 'tgz', members: { kubelet: 'kubernetes/server/bin/kubelet' } });
  });

  it('takes an unpinned release per binary, with the .sha256 published next to each', () => {
    const all = sources('kubernetes', 'arm64', { kubernetes: v('v1.37.1') });
    expect(all.map((s) => s.url)).toContain('https://dl.k8s.io/release/v1.37.1/bin/linux/arm64/kubelet');
    expect(all.every((s) => s.published?.url === `${s.url}.sha256` && !s.pinned)).toBe(true);
  });

  it('names the GitHub release assets of etcd, flannel, the CNI plugins and the runtime', () => {
    expect(sources('etcd')[0]).toMatchObject({
      url: 'https://github.com/etcd-io/etcd/releases/download/v3.6.14/etcd-v3.6.14-linux-amd64.tar.gz',
      pinned: { algorithm: 'sha256', hex: 'ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5' },
      published: { url: 'https://github.com/etcd-io/etcd/releases/download/v3.6.14/SHA256SUMS', entry: 'etcd-v3.6.14-linux-amd64.tar.gz' },
      layout: { members: { etcd: 'etcd-v3.6.14-linux-amd64/etcd', etcdutl: 'etcd-v3.6.14-linux-amd64/etcdutl' } },
    });
    expect(Object.keys((sources('etcd', 'amd64', { etcd: v('v3.4.29') })[0]!.layout as { members: object }).members)).toEqual(['etcd', 'etcdctl']);
    expect(sources('etcd', 'amd64', { etcd: v('v3.5.30') })[0]!.pinned).toBeUndefined();
    expect(sources('flannel', 'arm64')[0]).toMatchObject({ url: 'https://github.com/flannel-io/flannel/releases/download/v0.28.9/flanneld-arm64' });
    expect(sources('flannel')[0]!.published).toBeNull();
    expect(sources('flannel-cni-plugin')[0]).toMatchObject({
      url: 'https://github.com/flannel-io/cni-plugin/releases/download/v1.9.1-flannel1/cni-plugin-flannel-linux-amd64-v1.9.1.tgz',
      published: { url: 'https://github.com/flannel-io/cni-plugin/releases/download/v1.9.1-flannel1/cni-plugin-flannel-linux-amd64-v1.9.1.tgz.sha256' },
    });
    expect(sources('cni-plugins')[0]!.published!.url).toBe('https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256');
    expect(sources('containerd')[0]!.url).toBe('https://github.com/containerd/containerd/releases/download/v2.3.0/containerd-static-2.3.0-linux-amd64.tar.gz');
    expect(sources('runc', 'arm64')[0]!.published).toMatchObject({ url: 'https://github.com/opencontainers/runc/releases/download/v1.3.3/runc.sha256sum', entry: 'runc.arm64' });
    expect(sources('docker', 'arm64')[0]!.url).toBe('https://download.docker.com/linux/static/stable/aarch64/docker-28.5.1.tgz');
  });

  it("takes flannel's CNI plugin at the release tag the config names, its archive named as that release's packaging named it", () => {
    const url = (tag: string) => sources('flannel-cni-plugin', 'amd64', { 'flannel-cni-plugin': parseProjectVersion('flannel-cni-plugin', tag)! })[0]!;
    // scripts/version.sh cuts the tag to six characters from v1.8.0-flannel2 on; earlier releases kept the whole tag.
    expect(url('v1.9.0-flannel1').url).toMatch(/\/v1\.9\.0-flannel1\/cni-plugin-flannel-linux-amd64-v1\.9\.0\.tgz$/);
    expect(url('v1.8.0-flannel2').url).toMatch(/\/v1\.8\.0-flannel2\/cni-plugin-flannel-linux-amd64-v1\.8\.0\.tgz$/);
    expect(url('v1.8.0-flannel1').url).toMatch(/\/v1\.8\.0-flannel1\/cni-plugin-flannel-linux-amd64-v1\.8\.0-flannel1\.tgz$/);
    expect(url('v1.5.1-flannel2').url).toMatch(/\/v1\.5\.1-flannel2\/cni-plugin-flannel-linux-amd64-v1\.5\.1-flannel2\.tgz$/);
    // The .sha256 files reach the release page from v1.4.0-flannel1 on.
    expect(url('v1.2.0').published).toBeNull();
    expect(parseProjectVersion('flannel-cni-plugin', 'v1.9.1-flannel1')).toEqual({ major: 1, minor: 9, patch: 1, tag: 'v1.9.1-flannel1' });
    expect(parseProjectVersion('flannel-cni-plugin', 'v1.9.1-rc1')).toBeUndefined();
    // Tags after v1.2.0 all carry the suffix: a bare v1.9.1 (kubestrap's old default) names no release.
    expect(parseProjectVersion('flannel-cni-plugin', 'v1.9.1')).toBeUndefined();
    expect(parseProjectVersion('flannel-cni-plugin', 'v1.1.2')?.tag).toBe('v1.1.2');
    expect(parseProjectVersion('flannel', 'v0.28.9-flannel1')).toBeUndefined();
  });

  it('defaults etcd to a release whose SHA256SUMS it pins, for both arches', () => {
    expect(pinnedEtcdTarball(v(DEFAULT_VERSIONS.etcd), 'amd64')).toMatch(/^[0-9a-f]{64}$/);
    expect(pinnedEtcdTarball(v(DEFAULT_VERSIONS.etcd), 'arm64')).toMatch(/^[0-9a-f]{64}$/);
    expect(etcdBelowMinimum(v('v3.4.28'))?.tag).toBe('v3.4.29');
    expect(etcdBelowMinimum(v('v3.5.11'))).toBeUndefined();
    expect(etcdBelowMinimum(v('v3.6.0'))).toBeUndefined();
  });

  it('uses a mirror given as base URL, trailing slash or not', () => {
    const [s] = artifactSources({
      project: 'flannel',
      version: versions.flannel,
      arch: 'amd64',
      binaries: ['flanneld'],
      bases: { ...DOWNLOAD_BASES, GITHUB_DOWNLOAD_URL: 'https://mirror.example/gh/' },
    });
    expect(s!.url).toBe('https://mirror.example/gh/flannel-io/flannel/releases/download/v0.28.9/flanneld-amd64');
  });
});

describe('architectures', () => {
  it('maps uname -m to release arches', () => {
    expect(archOfMachine('x86_64')).toBe('amd64');
    expect(archOfMachine('aarch64')).toBe('arm64');
    expect(archOfMachine('s390x')).toBeUndefined();
  });
});

describe('checksum files', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  it.each([
    [`${a}\n`, 'x.tgz', a],
    [`${a}  x.tgz\n`, 'x.tgz', a],
    [`${b}  y.tgz\n${a} *x.tgz\n`, 'x.tgz', a],
    [`${b}  ./dir/x.tgz\n`, 'x.tgz', b],
    [`${b}  y.tgz\n`, 'x.tgz', undefined],
  ])('reads %j for %s', (text, entry, want) => {
    expect(digestFromChecksumFile(text, entry, 64)).toBe(want);
  });
});
