import { minorAtLeast, type Version } from './version.js';
import type { RemovedFlag } from './kube-flags.js';

/**
 * etcd versions kubestrap installs and what each removed. 3.4 stays supported so that existing
 * clusters (and Debian's etcd-server package) keep working; new clusters get 3.6.
 * Sources: etcd-io/etcd CHANGELOG/CHANGELOG-3.5.md, -3.6.md, -3.7.md.
 */
export const SUPPORTED_ETCD_MINORS = [4, 5, 6, 7] as const;
export const DEFAULT_ETCD_VERSION = 'v3.6.16';

export function isSupportedEtcdVersion(v: Version): boolean {
  return v.major === 3 && (SUPPORTED_ETCD_MINORS as readonly number[]).includes(v.minor);
}

export function supportedEtcdRange(): string {
  return `v3.${SUPPORTED_ETCD_MINORS[0]}.x to v3.${SUPPORTED_ETCD_MINORS.at(-1)}.x`;
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
