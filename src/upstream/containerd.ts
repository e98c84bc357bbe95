import { supportedKubeMinor } from './kubernetes.js';
import { compareVersions, mustParseVersion, type KubeVersion, type Version } from './version.js';

/**
 * Which containerd releases upstream supports under each Kubernetes minor: containerd's own table,
 * RELEASES.md "Kubernetes Support", one row per minor listing the oldest supported patch of each
 * containerd line ("2.2.0+, 2.1.5+, 1.7.28+").
 *
 * Read 2026-12-07 from containerd/containerd: RELEASES.md at main (301026e, 2026-08-22), v2.3.4 and
 * v2.4.0-beta.0, which all list 1.32 to 1.36 as below; 1.31's row from v2.2.0's RELEASES.md, the last
 * that lists it (later ones dropped the minor when Kubernetes stopped maintaining it). No RELEASES.md
 * read has a row for 1.37 (main was read four days before Kubernetes 1.37.0): it takes 1.36's until
 * containerd publishes one. containerd 1.6 is in no row from 1.35 on, 1.7 in none from 1.36 on
 * (kubernetes/kubernetes#135548: "after 1.35 we will no longer support containerd 1.7.x").
 */
const SUPPORT: Readonly<Record<number, readonly string[]>> = {
  31: ['2.1.0', '2.0.0', '1.7.20', '1.6.34'],
  32: ['2.1.0', '2.0.1', '1.7.24', '1.6.36'],
  33: ['2.1.0', '2.0.4', '1.7.24', '1.6.36'],
  34: ['2.1.3', '2.0.6', '1.7.28', '1.6.39'],
  35: ['2.2.0', '2.1.5', '1.7.28'],
  36: ['2.3.0', '2.2.0'],
  37: ['2.3.0', '2.2.0'],
};

/** The oldest supported patch of each containerd line under one Kubernetes minor, newest line first. */
export function containerdSupportRow(kube: KubeVersion): Version[] {
  const row = SUPPORT[supportedKubeMinor(kube).minor];
  if (!row) throw new Error(`src/upstream/containerd.ts has no row for Kubernetes ${kube.tag}: add containerd's from its RELEASES.md`);
  return row.map(mustParseVersion).sort((a, b) => compareVersions(b, a));
}

const sameLine = (a: Version, b: Version) => a.major === b.major && a.minor === b.minor;

/**
 * Whether upstream supports `containerd` under Kubernetes `kube`: a listed line at its listed patch
 * or later, or a line newer than every listed one (a release the table predates; containerd keeps
 * the CRI API of the lines before it).
 */
export function containerdSupports(kube: KubeVersion, containerd: Version): boolean {
  const row = containerdSupportRow(kube);
  const line = row.find((v) => sameLine(v, containerd));
  if (line) return compareVersions(containerd, line) >= 0;
  return compareVersions(containerd, row[0]!) > 0;
}

/** The row as containerd's table writes it, for messages: `2.2.0+, 2.1.5+ or 1.7.28+`. */
export function containerdSupportText(kube: KubeVersion): string {
  const items = containerdSupportRow(kube).map((v) => `${v.tag.slice(1)}+`);
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : items[0]!;
}

/**
 * The oldest containerd any line of the row accepts: below it nothing is supported (above it, a
 * release may still fall between lines: ask containerdSupports).
 */
export function containerdMinimum(kube: KubeVersion): Version {
  return containerdSupportRow(kube).at(-1)!;
}
