import { compareVersions, minorAtLeast, mustParseVersion, type Version } from './version.js';
import type { RemovedFlag } from './kube-flags.js';

/**
 * etcd versions kubestrap installs and what each removed. 3.4 stays supported so that existing
 * clusters (and Debian's etcd-server package) keep working; new clusters get 3.6.
 * Sources: etcd-io/etcd CHANGELOG/CHANGELOG-3.5.md, -3.6.md, -3.7.md.
 */
export const SUPPORTED_ETCD_MINORS = [4, 5, 6, 7] as const;

/**
 * sha256 of `etcd-<tag>-linux-<arch>.tar.gz` per release, as the release's SHA256SUMS lists it: a
 * version is a default only once its tag and checksums have been seen (a default nobody can
 * download is worse than an old one). Read from kubernetes-sigs/kubespray's
 * roles/kubespray_defaults/vars/main/checksums.yml (2026-08-21), which its component_hash_update
 * script copies from https://github.com/etcd-io/etcd/releases/download/<tag>/SHA256SUMS; the tag
 * and its CHANGELOG-3.6.md entry (v3.6.14, 2026-07-23) checked in etcd-io/etcd itself.
 */
export const ETCD_TARBALLS: Readonly<Record<string, Record<'amd64' | 'arm64', string>>> = {
  'v3.6.14': {
    amd64: 'ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5',
    arm64: 'fa1b80565ee6fc2df1ae6f57a508b221f3ecc7d591c317c581cd8281b0842b3e',
  },
};

/** The newest 3.6 release whose SHA256SUMS is pinned above (3.6 is what Kubernetes 1.34-1.36 test with). */
export const DEFAULT_ETCD_VERSION = 'v3.6.14';

/** The sha256 of a release's tarball, when kubestrap pins it. */
export function pinnedEtcdTarball(v: Version, arch: 'amd64' | 'arm64'): string | undefined {
  return ETCD_TARBALLS[v.tag]?.[arch];
}

export function isSupportedEtcdVersion(v: Version): boolean {
  return v.major === 3 && (SUPPORTED_ETCD_MINORS as readonly number[]).includes(v.minor);
}

export function supportedEtcdRange(): string {
  return `v3.${SUPPORTED_ETCD_MINORS[0]}.x to v3.${SUPPORTED_ETCD_MINORS.at(-1)}.x`;
}

/**
 * The oldest patch of each etcd minor that Kubernetes 1.31 and later run on: they rely on the
 * /livez and /readyz endpoints that etcd backported to 3.5.11 (etcd-io/etcd#17039) and 3.4.29
 * (#17128) (kubernetes/website#54019 and its backports #54030-#54033; kubeadm 1.31 refuses older
 * ones, kubernetes/kubernetes#124465). Every Kubernetes minor kubestrap supports is 1.31 or later.
 */
const ETCD_MINIMUM_PER_MINOR: Readonly<Record<number, string>> = { 4: 'v3.4.29', 5: 'v3.5.11' };

/** The oldest release of `v`'s minor that the supported Kubernetes versions run on, when `v` is older than it. */
export function etcdBelowMinimum(v: Version): Version | undefined {
  const minimum = ETCD_MINIMUM_PER_MINOR[v.minor];
  if (v.major !== 3 || !minimum) return undefined;
  const floor = mustParseVersion(minimum);
  return compareVersions(v, floor) < 0 ? floor : undefined;
}

/** etcdutl (offline snapshot restore, defrag) ships in the release tarball from 3.5 on. */
export function hasEtcdutl(v: Version): boolean {
  return minorAtLeast(v, '3.5');
}

const removed = (flag: string, removedIn: string, instead: string): RemovedFlag => ({ flag, removedIn, status: 'removed', instead });

const ETCD_REMOVED_FLAGS: RemovedFlag[] = [
  removed('--debug', '3.5', 'use --log-level=debug'),
  removed('--log-package-levels', '3.5', 'use --log-level'),
  removed('--enable-v2', '3.6', 'drop it: the v2 API is gone (flannel and Kubernetes use v3)'),
  removed('--experimental-enable-v2v3', '3.6', 'drop it: the v2 API is gone'),
];

/**
 * Every `--experimental-*` flag was deprecated in 3.6 (each got a stable name or a feature gate) and
 * removed in 3.7, e.g. --experimental-initial-corrupt-check became --feature-gates=InitialCorruptCheck=true.
 */
const EXPERIMENTAL_PREFIX = '--experimental-';

export function removedEtcdFlag(flag: string, version: Version): RemovedFlag | undefined {
  const listed = ETCD_REMOVED_FLAGS.find((f) => f.flag === flag && minorAtLeast(version, f.removedIn));
  if (listed) return listed;
  if (!flag.startsWith(EXPERIMENTAL_PREFIX) || !minorAtLeast(version, '3.6')) return undefined;
  const stable = `--${flag.slice(EXPERIMENTAL_PREFIX.length)}`;
  const instead = `use the stable flag (${stable}) or the matching --feature-gates entry`;
  return minorAtLeast(version, '3.7') ? { flag, removedIn: '3.7', status: 'removed', instead } : { flag, removedIn: '3.6', status: 'deprecated', instead: `${instead} (removed in 3.7)` };
}
