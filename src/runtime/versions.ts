import type { Version } from '../upstream/index.js';

/**
 * Reading containerd's version and choosing its config format. What a Kubernetes version needs of
 * the runtime (its minimum containerd, its pause image) is upstream knowledge: src/upstream.
 */

/**
 * containerd's config format: `version = 2` is what 1.x reads; 2.x reads `version = 3` (and would
 * convert a version 2 file at every start, with warnings).
 */
export function containerdConfigVersion(containerd: Version | undefined): '2' | '3' {
  return containerd && containerd.major >= 2 ? '3' : '2';
}

/**
 * Whether the CRI's CNI settings take `bin_dirs` (a list): containerd 2.1 added it and deprecated
 * `bin_dir`, whose removal is targeted for 2.4, and refuses a config that sets both; 2.0 and 1.x
 * know only `bin_dir` (containerd docs/cri/config.md, internal/cri/config/config.go).
 */
export function containerdTakesCniBinDirs(containerd: Version | undefined): boolean {
  return containerd !== undefined && (containerd.major > 2 || (containerd.major === 2 && containerd.minor >= 1));
}

/** The first x.y.z in a version string as packages and `--version` print it: `1.6.20~ds1-1`, `v2.1.4`. */
export function leadingVersion(text: string): Version | undefined {
  const m = /(?:^|[\s:v])(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { major, minor, patch, tag: `v${major}.${minor}.${patch}` };
}
