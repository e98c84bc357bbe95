/**
 * Versions as upstream writes them: Kubernetes, etcd, flannel, containerd, CNI plugins all use
 * MAJOR.MINOR.PATCH, with or without a leading v. Comparisons look at numbers, never at strings.
 */
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

/** Like parseVersion, for values a table in this module holds: a typo there is a bug, not bad input. */
export function mustParseVersion(value: string): Version {
  const v = parseVersion(value);
  if (!v) throw new Error(`upstream table holds "${value}", which is not a MAJOR.MINOR.PATCH version`);
  return v;
}

/** `minorAtLeast(v, '1.31')`: true for 1.31.0 and later. Only the major.minor part is compared. */
export function minorAtLeast(v: Version, majorMinor: string): boolean {
  const [major, minor] = majorMinor.replace(/^v/, '').split('.').map(Number);
  if (major === undefined || minor === undefined || Number.isNaN(major) || Number.isNaN(minor)) {
    throw new Error(`"${majorMinor}" is not a MAJOR.MINOR version`);
  }
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** Negative when a is older than b, 0 when equal, positive when newer. */
export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** The version without its leading v, as some release assets spell it (containerd-2.3.0-...). */
export function bare(v: Version): string {
  return v.tag.slice(1);
}
