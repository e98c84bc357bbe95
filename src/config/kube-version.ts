/**
 * Kubernetes versions we carry a flag set for. A version outside this list is refused: we would not
 * know which flags its binaries accept.
 */
export const SUPPORTED_KUBE_MINORS = [30, 31, 32, 33] as const;
export const DEFAULT_KUBE_VERSION = 'v1.33.10';

export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** Canonical form with a leading v, as release URLs use it: v1.33.4 */
  tag: string;
}

/** Kubernetes, etcd and flannel versions all have this shape. */
export type KubeVersion = Version;

export function parseVersion(value: string): Version | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(value);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { major, minor, patch, tag: `v${major}.${minor}.${patch}` };
}

export function isSupportedKubeVersion(v: KubeVersion): boolean {
  return v.major === 1 && (SUPPORTED_KUBE_MINORS as readonly number[]).includes(v.minor);
}

export function supportedKubeRange(): string {
  const first = SUPPORTED_KUBE_MINORS[0];
  const last = SUPPORTED_KUBE_MINORS[SUPPORTED_KUBE_MINORS.length - 1];
  return `v1.${first}.x to v1.${last}.x`;
}

/** `minorAtLeast(v, '1.31')`: true for 1.31.0 and later. Only the major.minor part is compared. */
export function minorAtLeast(v: Version, majorMinor: string): boolean {
  const [major, minor] = majorMinor.replace(/^v/, '').split('.').map(Number);
  if (major === undefined || minor === undefined || Number.isNaN(major) || Number.isNaN(minor)) {
    throw new Error(`"${majorMinor}" is not a MAJOR.MINOR version`);
  }
  return v.major > major || (v.major === major && v.minor >= minor);
}
