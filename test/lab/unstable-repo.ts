import fs from 'node:fs';
import path from 'node:path';
import { cachedDir, shortHash } from './cache.js';
import { describeVersions, fetchSuite } from './debian-suite.js';
import { indexRepo, repoHash } from './repo.js';
import { runInOverlay, withRootfsOverlay } from './rootfs-overlay.js';

/**
 * Current builds of the components kubestrap installs, from Debian's newest suite (unstable): a
 * second flat apt repo next to the lab's Debian 12 one, served below /unstable/. Their Go binaries
 * need glibc 2.34, so they run on the lab's Debian 12 hosts. What hosts may install from it is
 * installed for real in an overlay of the rootfs (with the Debian 12 repo for dependencies) before
 * the repo counts as built.
 *
 * Only the packages named here come from unstable, never their dependencies (unstable's libraries
 * would not run on Debian 12). Left out: runc (1.3 needs glibc 2.38; Debian 12's runc serves
 * containerd 2.x) and haproxy (3.x needs glibc 2.38 and unstable's OpenSSL and PCRE libraries;
 * hosts take Debian 12's 2.6 from the Debian 12 repo).
 */
export const UNSTABLE_PACKAGES = [
  // etcd 3.5 (etcd, etcdutl; etcdctl): for the bundle only (BUNDLE_ONLY)
  'etcd-server',
  'etcd-client',
  // containerd 2.x (containerd, its runc shim, ctr)
  'containerd',
  'kubectl',
  // bridge, host-local, loopback, portmap and the other reference plugins, in /usr/lib/cni
  'containernetworking-plugins',
  // Docker 28: the daemon, its CLI (a package of its own since Debian 13) and docker-init, which docker.io depends on
  'docker.io',
  'docker-cli',
  'tini-static',
];

/**
 * Fetched for the lab bundle's binaries, but left out of the index hosts install from: etcd-server's
 * sysusers.d line (`u! etcd ...`, a locked user) needs systemd 257, and Debian 12's systemd 252
 * fails its postinst ("Unknown modifier 'u!'"). The product runs etcd from the bundle, not from a
 * package; hosts keep Debian 12's etcd packages, client and server alike.
 */
export const BUNDLE_ONLY: readonly string[] = ['etcd-server', 'etcd-client'];

/** What a current host's apt finds in this repo. */
export const HOST_PACKAGES = UNSTABLE_PACKAGES.filter((pkg) => !BUNDLE_ONLY.includes(pkg));

export const UNSTABLE_SUITE = 'unstable';
/** The URL path the lab's repo server serves this repo below: `deb [trusted=yes] http://GATEWAY:PORT/unstable ./`. */
export const UNSTABLE_URL_PATH = '/unstable';

/** Bump when the build changes; the package list and the Debian 12 repo it is checked against are in the key too. */
const RECIPE_VERSION = 2;

export function unstableRepoHash(): string {
  return shortHash({ packages: UNSTABLE_PACKAGES, suite: UNSTABLE_SUITE, base: repoHash(), recipe: RECIPE_VERSION });
}

/**
 * The repo, fetched once per machine: unstable moves, so a build keeps what it fetched (and says
 * which versions, see debian-suite.ts) until the package list, the recipe or the Debian 12 repo
 * changes. Delete the `unstable-repo-*` folder to fetch the suite's current builds.
 */
export async function ensureUnstableRepo(debian12Repo: string, rootfs: string, log: (msg: string) => void): Promise<string> {
  return cachedDir('unstable-repo', unstableRepoHash(), async (dir) => {
    log(`fetching current builds from Debian ${UNSTABLE_SUITE} into ${dir} (about 100 MB, once per machine)`);
    const { packages: versions } = await fetchSuite(UNSTABLE_SUITE, UNSTABLE_PACKAGES, dir);
    await indexRepo(dir, (pkg) => HOST_PACKAGES.includes(pkg));
    await checkInstallable(debian12Repo, dir, rootfs, versions);
    log(`Debian ${UNSTABLE_SUITE}: ${describeVersions(versions)}`);
  });
}

/**
 * The packages hosts may install from this repo are installed for real in an overlay of the rootfs,
 * with the Debian 12 repo and this one as its only sources, maintainer scripts and all, and must
 * come from this repo: a dependency on something only unstable has (a newer glibc) or a script
 * Debian 12 cannot run fails here, not on a host in the middle of a test.
 */
async function checkInstallable(debian12Repo: string, dir: string, rootfs: string, versions: Record<string, string>): Promise<void> {
  await withRootfsOverlay(rootfs, `${dir}.check`, async (merged) => {
    fs.writeFileSync(path.join(merged, 'etc/apt/sources.list.d/lab.list'), 'deb [trusted=yes] file:/lab/debian12 ./\ndeb [trusted=yes] file:/lab/unstable ./\n');
    const script = [
      'set -e',
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get update -qq',
      `apt-get install -y -q --no-install-recommends ${HOST_PACKAGES.join(' ')}`,
      `dpkg-query -W -f '\${Package} \${Version}\\n' ${HOST_PACKAGES.join(' ')} > /root/installed`,
    ].join('\n');
    await runInOverlay(merged, script, {
      logFile: `${dir}.check.log`,
      what: `installing Debian ${UNSTABLE_SUITE}'s packages on a lab host`,
      bindReadOnly: [`${debian12Repo}:/lab/debian12`, `${dir}:/lab/unstable`],
    });
    const installed = new Map(
      fs
        .readFileSync(path.join(merged, 'root/installed'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]),
    );
    const wrong = HOST_PACKAGES.filter((pkg) => installed.get(pkg) !== versions[pkg]);
    if (wrong.length)
      throw new Error(`a lab host installed ${wrong.map((p) => `${p} ${installed.get(p) ?? '(nothing)'}`).join(', ')}, not Debian ${UNSTABLE_SUITE}'s ${wrong.map((p) => versions[p]).join(', ')}`);
  });
}
