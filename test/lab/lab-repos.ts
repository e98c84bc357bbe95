import { ensurePrereqs } from './prereqs.js';
import { ensureRepo } from './repo.js';
import { ensureRootfs } from './rootfs.js';
import { ensureUnstableRepo } from './unstable-repo.js';

/** The lab's base and its two apt repos, each built once per machine (see cache.ts). */
export interface LabRepos {
  rootfs: string;
  /** Debian 12's packages (repo.ts): what a Debian 12 server's apt offers. */
  debian12: string;
  /** Debian unstable's builds of the components (unstable-repo.ts). */
  unstable: string;
}

export async function ensureLabRepos(log: (msg: string) => void): Promise<LabRepos> {
  await ensurePrereqs();
  const rootfs = await ensureRootfs(log);
  const debian12 = await ensureRepo(rootfs, log);
  return { rootfs, debian12, unstable: await ensureUnstableRepo(debian12, rootfs, log) };
}
