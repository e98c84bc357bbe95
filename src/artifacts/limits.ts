/**
 * What a hostile or broken mirror or registry can make this machine hold. Every download, document
 * and decompressed stream has a ceiling; going past it fails that download (which leaves nothing in
 * the cache) instead of filling the disk or the memory. A size that a pin or a descriptor states is
 * the ceiling when there is one: bytes past it could not match the checksum anyway.
 */
const MiB = 1024 * 1024;

export interface Limits {
  download: number;
  document: number;
  member: number;
  expanded: number;
}

export const LIMITS: Readonly<Limits> = {
  /** A download nothing gives the size of; the largest upstream artifact (Kubernetes' server tarball) is under 0.5 GiB. */
  download: 1024 * MiB,
  /** Read into memory: checksum files, image manifests and indexes, image configs, token answers. */
  document: 4 * MiB,
  /** One binary unpacked from an archive (the largest, kube-apiserver, is about 100 MiB). */
  member: 1024 * MiB,
  /** All that one .tar.gz expands to, members that are skipped included. */
  expanded: 4096 * MiB,
};

/** `n` bytes for messages: whole MiB when that is exact enough. */
export function sizeText(n: number): string {
  return n >= MiB ? `${Math.round(n / MiB)} MiB` : `${n} bytes`;
}
