import { compareVersions, mustParseVersion, type KubeVersion } from './version.js';

/**
 * The Kubernetes minors kubestrap supports and what goes with each: the etcd, pause and CoreDNS
 * versions kubeadm of that minor deploys and the server/node tarball checksums (sha512) that the
 * release's CHANGELOG lists. Supporting v1.38 is one entry here (plus its removed flags in
 * kube-flags.ts, if it removed any, and containerd's row in containerd.ts).
 *
 * Sources: kubernetes/kubernetes CHANGELOG/CHANGELOG-1.3x.md ("Downloads for vX.Y.Z" tables,
 * "Dependencies" notes for etcd and CoreDNS) and cmd/kubeadm/app/constants. Where a minor's CHANGELOG
 * we could read lists no stable patch (1.37: only pre-releases), nothing is pinned: its downloads are
 * checked against the checksum file dl.k8s.io publishes next to each file, and pinned in the
 * cluster's lock file on first download.
 */
export interface KubeMinor {
  minor: number;
  /** etcd that kubeadm of this minor deploys (the version upstream tests with). */
  etcd: string;
  pause: string;
  coredns: string;
  /** sha512 of kubernetes-{server,node}-linux-<arch>.tar.gz per patch release, from the CHANGELOG. */
  tarballs: Record<string, ReleaseTarballs>;
}

export interface ReleaseTarballs {
  server: Record<'amd64' | 'arm64', string>;
  node: Record<'amd64' | 'arm64', string>;
}

export const KUBE_MINORS: readonly KubeMinor[] = [
  { minor: 31, etcd: 'v3.5.15', pause: '3.10', coredns: 'v1.11.3', tarballs: {} },
  { minor: 32, etcd: 'v3.5.16', pause: '3.10', coredns: 'v1.11.3', tarballs: {} },
  {
    minor: 33,
    etcd: 'v3.5.21',
    pause: '3.10',
    coredns: 'v1.12.0',
    tarballs: {
      'v1.33.5': {
        server: {
          amd64: 'b48edac93e28565aa44c431099004de38a3ea896e1ebc4ecfe9ebe3eb712c5fd28ad721ef287ff970b0ad1b83f5dfbaeaca8258ede36e795b08803381a322e19',
          arm64: 'd8e5992b240b1f174bcd84e1de5a901605d93e7e343551730477edd1c4066afcf834be174106135794a63bcf869b99aa500e17cae4238f0be68cb054eb6c6729',
        },
        node: {
          amd64: 'f5e25af84feeec774522e727a05372442b3bd61ccf27da7d7c5fb08aadab5d1203ad3403cd01d4d13f550819ab7527e8b90af9903a221724e6d21baf9e590228',
          arm64: 'dbf946b03b5a9d39edd58f29d51a2f457fd5b85ab4e9db567ca12e69cad832d049ce4d79a404df381ea3795af1a7fdd72a887e9a2a1ec3f9ab67ab50837ad21e',
        },
      },
    },
  },
  {
    minor: 34,
    etcd: 'v3.6.4',
    pause: '3.10.1',
    coredns: 'v1.12.1',
    tarballs: {
      'v1.34.7': {
        server: {
          amd64: 'baaf8dd4ff110a384e9dfe3db54a85a04223074fd13da32a38f9883a12b93bcd26ae4d666bbc2f37724f0a6631f3d2e4ddb97caaf909906711a824afd70cec81',
          arm64: '06fa3ac02fa8e90f406d2a054c85d11ad8e323b70aaf158acc0e68da3296490168ec2c7ee6f61bf4e3b14adad5f33f62feeeaf5974b9417b2d34a771e013d4f3',
        },
        node: {
          amd64: '75db53a192c4f81e6810e4544675ba474a39fb3381b20cbeceb175091a217387d73df6d648034be4c7c07c294d97985d77204b6b54b0ed9bedb89fb879c56f3e',
          arm64: 'd40e5ddcbb1a8570247f850a00b21dfd32379c90235f2435de0fd8b844a235a2af48c5ce615b574d26d7e2e0f9b96b1b433adc42dd666f214855bc4023690840',
        },
      },
    },
  },
  {
    minor: 35,
    etcd: 'v3.6.6',
    pause: '3.10.1',
    coredns: 'v1.13.1',
    tarballs: {
      'v1.35.0': {
        server: {
          amd64: '23af53c49de841a0d5c19d9525d820cecc9d55367c132296a5f381d051438bf06dcddff3d0236df8ba6011a6aa5d0ffc31960d277c7f53a0ad98e66d6f8d6a0a',
          arm64: 'fd245273c6ace20abc893f868d678c4a24c0dbe7d5340087f852d245e59329e66f79afce489dc1b396908d2f005b132eca8d15a7664508fe923627bb2eddee18',
        },
        node: {
          amd64: '179278fecb65d246443f58cef00ca2f2a9d0ac6fbdb310994f0ac7fca249f7bdc1c79ea7f3e5455c1e2d2460f5447d006bfa579f97b502ee7034b2a1927f934a',
          arm64: '01178703c84e0f671770e53024e3cc53f540c0cf93b0804d35884a777c3e3bc44c44d62b6fd25204348986fa589969a9255c0ef04235a0bb9d5560b09867aa0b',
        },
      },
    },
  },
  {
    minor: 36,
    etcd: 'v3.6.9',
    pause: '3.10.1',
    coredns: 'v1.13.1',
    tarballs: {
      'v1.36.0': {
        server: {
          amd64: '1c64da92575451c2c7ff97c79b772e603995f8e76da1371a6b0746aaa27b65dce81c4d734cbb50f40e71486a8e08df36f14e12974f97d4d29e41f23a172a6a25',
          arm64: '7f95e451baedd9368a2fa637afa84c9ed1b958736540ca27a379e5e292e1a10c5d9a29539f833047574bf5d3b6f907f32dee5735acecc11aa4686f078108dcf8',
        },
        node: {
          amd64: '8bba5bd0cb77997ad965739caff3c8839fd16f284cf28a0e46c44538ce0b6fd83c5f3c608dd86c4831c3de9306bbfd02ce26bbe9a426754b6253efa1d5cc030f',
          arm64: '10a4c3660e6e19fae998b04345dbe42711e61745bf374405c33e8604335b12ff55ce7b68f8a0d67d1f7ce4519f706fbd8d80781b7128369fe047c38915e8d189',
        },
      },
    },
  },
  // 1.37 moved kubeadm's etcd to 3.7 (3.7.0-rc.0 in v1.37.0-alpha.1) and CoreDNS to v1.14 (#139735).
  { minor: 37, etcd: 'v3.7.0', pause: '3.10.1', coredns: 'v1.14.4', tarballs: {} },
];

/**
 * The newest patch whose tarball checksums are pinned above: what a new cluster gets. (v1.37.x would
 * be newer, but the CHANGELOG-1.37.md we could read lists only pre-releases.)
 */
export const DEFAULT_KUBE_VERSION = 'v1.36.0';

export const SUPPORTED_KUBE_MINORS: readonly number[] = KUBE_MINORS.map((m) => m.minor);

export function kubeMinor(v: KubeVersion): KubeMinor | undefined {
  return v.major === 1 ? KUBE_MINORS.find((m) => m.minor === v.minor) : undefined;
}

/** The table entry for a version that passed config validation (so it is supported). */
export function supportedKubeMinor(v: KubeVersion): KubeMinor {
  const entry = kubeMinor(v);
  if (!entry) throw new Error(`Kubernetes ${v.tag} is not supported (${supportedKubeRange()}); config validation should have refused it`);
  return entry;
}

export function isSupportedKubeVersion(v: KubeVersion): boolean {
  return kubeMinor(v) !== undefined;
}

export function supportedKubeRange(): string {
  return `v1.${SUPPORTED_KUBE_MINORS[0]}.x to v1.${SUPPORTED_KUBE_MINORS.at(-1)}.x`;
}

/** The CHANGELOG's sha512 of this release's tarballs, when kubestrap pins it. */
export function pinnedTarballs(v: KubeVersion): ReleaseTarballs | undefined {
  return kubeMinor(v)?.tarballs[v.tag];
}

/** From 1.35 the kubelet refuses to start on a cgroup v1 host unless its config sets failCgroupV1: false (KEP-5573). */
export function kubeletRefusesCgroupV1(v: KubeVersion): boolean {
  return v.major > 1 || v.minor >= 35;
}

/** The newest Kubernetes version that still runs on cgroup v1 without an override, for messages. */
export const LAST_CGROUP_V1_MINOR = 'v1.34';

/** Versions to offer someone choosing one (the `init` wizard): the pinned releases, newest first. */
export function kubeVersionChoices(): string[] {
  const pinned = KUBE_MINORS.flatMap((m) => Object.keys(m.tarballs));
  const all = [...new Set([DEFAULT_KUBE_VERSION, ...pinned])].map((tag) => mustParseVersion(tag));
  return all.sort((a, b) => compareVersions(b, a)).map((v) => v.tag);
}
