import { cachedDir, shortHash } from './cache.js';
import { describeVersions, fetchSuite } from './debian-suite.js';

/**
 * Debian 13 (trixie)'s etcd, for lab bundles only: an etcd 3.5 older than unstable's (3.5.16 against
 * 3.5.30) yet at or above the 3.5.11 every supported Kubernetes needs (src/upstream/etcd.ts), where
 * Debian 12's 3.4.23 is below 3.4.29; an upgrade e2e moves etcd from it to unstable's. Its Go binaries
 * run on the lab's Debian 12 hosts. Never installed on hosts (no index is made): etcd-server's
 * sysusers.d line needs systemd 257, as unstable's does (unstable-repo.ts BUNDLE_ONLY).
 */
export const TRIXIE_SUITE = 'trixie';
export const TRIXIE_PACKAGES: readonly string[] = ['etcd-server', 'etcd-client'];

/** Bump when the build changes; the package list is in the key too. */
const RECIPE_VERSION = 1;

/**
 * The packages, fetched once per machine and kept (with the versions fetched, see debian-suite.ts)
 * until the list or the recipe changes. Delete the `trixie-repo-*` folder to fetch trixie's current ones.
 */
export async function ensureTrixieRepo(log: (msg: string) => void): Promise<string> {
  return cachedDir('trixie-repo', shortHash({ packages: TRIXIE_PACKAGES, suite: TRIXIE_SUITE, recipe: RECIPE_VERSION }), async (dir) => {
    log(`fetching ${TRIXIE_PACKAGES.join(', ')} from Debian ${TRIXIE_SUITE} into ${dir} (about 16 MB, once per machine)`);
    log(`Debian ${TRIXIE_SUITE}: ${describeVersions((await fetchSuite(TRIXIE_SUITE, TRIXIE_PACKAGES, dir)).packages)}`);
  });
}
