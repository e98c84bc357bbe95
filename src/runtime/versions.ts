import { minorAtLeast, type KubeVersion, type Version } from '../config/kube-version.js';

/**
 * What the container runtime must be for a Kubernetes version. Kept here, in one place, until the
 * upstream module (all version knowledge) exists; then these read from it.
 */

/**
 * The oldest containerd the kubelet of `kube` works with. The kubelet has required the CRI v1 API
 * since 1.26, which containerd serves from 1.6.15 (containerd's RELEASES.md); Kubernetes 1.35 was
 * the last release to support containerd 1.x.
 */
export function containerdMinimum(kube: KubeVersion): Version {
  return minorAtLeast(kube, '1.36') ? version(2, 0, 0) : version(1, 6, 15);
}

/** The pod sandbox image the kubelet of `kube` expects (kubeadm's constant for that minor). */
export function pauseImage(kube: KubeVersion): string {
  return `registry.k8s.io/pause:${minorAtLeast(kube, '1.31') ? '3.10' : '3.9'}`;
}

/**
 * containerd's config format: `version = 2` is what 1.x reads; 2.x reads `version = 3` (and would
 * convert a version 2 file at every start, with warnings).
 */
export function containerdConfigVersion(containerd: Version | undefined): '2' | '3' {
  return containerd && containerd.major >= 2 ? '3' : '2';
}

/** The first x.y.z in a version string as packages and `--version` print it: `1.6.20~ds1-1`, `v2.1.4`. */
export function leadingVersion(text: string): Version | undefined {
  const m = /(?:^|[\s:v])(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? version(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
}

export function versionAtLeast(v: Version, min: Version): boolean {
  return v.major !== min.major ? v.major > min.major : v.minor !== min.minor ? v.minor > min.minor : v.patch >= min.patch;
}

function version(major: number, minor: number, patch: number): Version {
  return { major, minor, patch, tag: `v${major}.${minor}.${patch}` };
}
