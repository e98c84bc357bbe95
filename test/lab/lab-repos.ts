import { ensurePrereqs } from './prereqs.js';
import { ensureRepo } from './repo.js';
import { ensureRootfs } from './rootfs.js';
import { ensureTrixieRepo } from './trixie-repo.js';
import { ensureUnstableRepo } from './unstable-repo.js';

/** The lab's base, its two apt repos and the packages fetched for bundles only, each built once per machine (see cache.ts). */
export interface LabRepos {
  rootfs: string;
  /** Debian 12's packages (repo.ts): what a Debian 12 server's apt offers. */
  debian12: string;
  /** Debian unstable's builds of the components (unstable-repo.ts). */
  unstable: string;
  /** Debian 13's etcd, for bundles only: no host installs from it (trixie-repo.ts). */
  trixie: string;
}

export async function ensureLabRepos(log: (msg: string) => void): Promise<LabRepos> {
  await ensurePrereqs();
  const rootfs = await ensureRootfs(log);
  const debian12 = await ensureRepo(rootfs, log);
  return { rootfs, debian12, unstable: await ensureUnstableRepo(debian12, rootfs, log), trixie: await ensureTrixieRepo(log) };
}
