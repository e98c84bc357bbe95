/**
 * Which builds of etcd, containerd and Docker the lab offers. `current`: Debian unstable's (etcd 3.5,
 * containerd 2.x, Docker 28), served next to Debian 12's; `previous`: Debian 12's own (etcd 3.4,
 * containerd 1.6, Docker 20.10). A Debian host of a generation installs that generation's packages
 * from the lab's repos (a previous host sees Debian 12's repo only, as a Debian 12 server does), and
 * a lab bundle of a generation holds that generation's binaries: an old and a new version of each,
 * for upgrades. EL hosts' RPM repos are made from Debian 12's packages whatever the generation.
 */
export const GENERATIONS = ['current', 'previous'] as const;
export type Generation = (typeof GENERATIONS)[number];

export const DEFAULT_GENERATION: Generation = 'current';

export function parseGeneration(text: string): Generation {
  const g = GENERATIONS.find((x) => x === text);
  if (!g) throw new Error(`unknown generation '${text}': use one of ${GENERATIONS.join(', ')}`);
  return g;
}
