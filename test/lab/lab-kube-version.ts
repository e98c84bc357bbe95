import { containerdSupports, mustParseVersion, SUPPORTED_KUBE_MINORS, type Version } from '../../src/upstream/index.js';

/** The Kubernetes version a lab bundle is made for, and whether upstream supports the bundle's containerd under it. */
export interface LabKubeVersion {
  tag: string;
  containerdSupported: boolean;
}

/**
 * The stand-ins play any Kubernetes version; what pins the bundle's down is the real software next
 * to them. kubectl is Debian's, so the version is kubectl's own where upstream supports the bundle's
 * containerd under that minor (containerd's table in src/upstream); otherwise the newest older minor
 * that does, at patch 0, where the bundle lists kubectl under that version although it is newer
 * (kubectl talks to an API server a minor older; lab-bundle.json says what each binary really is).
 * A containerd that no minor up to kubectl's supports (Debian 12's 1.6.20, below every row) keeps
 * kubectl's version, said as unsupported: the product refuses such a host's runtime, as it should.
 */
export function labKubeVersion(kubectl: Version, containerd: Version): LabKubeVersion {
  const minors = SUPPORTED_KUBE_MINORS.filter((m) => kubectl.major === 1 && m <= kubectl.minor).sort((a, b) => b - a);
  for (const minor of minors) {
    const tag = minor === kubectl.minor ? kubectl.tag : `v1.${minor}.0`;
    if (containerdSupports(mustParseVersion(tag), containerd)) return { tag, containerdSupported: true };
  }
  return { tag: kubectl.tag, containerdSupported: false };
}
