import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR } from './paths.js';
import { machineAcquireSettings, ownApt } from './own-apt.js';
import { debsOf } from './repo.js';
import { debianMirror } from './rootfs.js';

/**
 * Named packages of one Debian suite other than the lab's own (unstable, trixie), fetched into a
 * folder with the lab's own apt (its lists and cache under CACHE_DIR/apt-SUITE, never the machine's),
 * and what the fetch got, recorded next to them: a suite moves, so a build says which versions it holds.
 */
export interface SuiteVersions {
  suite: string;
  mirror: string;
  fetchedAt: string;
  /** Package name -> Debian version. */
  packages: Record<string, string>;
}

const VERSIONS_FILE = 'versions.json';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Downloads exactly `packages` of `suite` (not their dependencies) into `dir` and records their versions there. */
export async function fetchSuite(suite: string, packages: readonly string[], dir: string): Promise<SuiteVersions> {
  const mirror = debianMirror();
  await download(suite, packages, mirror, dir);
  const record: SuiteVersions = { suite, mirror, fetchedAt: new Date().toISOString(), packages: debVersions(packages, dir) };
  fs.writeFileSync(path.join(dir, VERSIONS_FILE), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/** What a folder of fetchSuite holds, as its fetch recorded it. */
export function suiteVersions(dir: string): SuiteVersions {
  return JSON.parse(fs.readFileSync(path.join(dir, VERSIONS_FILE), 'utf8')) as SuiteVersions;
}

export function describeVersions(versions: Record<string, string>): string {
  return Object.entries(versions)
    .map(([pkg, version]) => `${pkg} ${version}`)
    .join(', ');
}

/** `apt-get download` with the lab's own apt, Release signatures checked against Debian's archive keyring. */
async function download(suite: string, packages: readonly string[], mirror: string, dir: string): Promise<void> {
  const apt = await ownApt(path.join(CACHE_DIR, `apt-${suite}`), {
    sources: [`deb [signed-by=${KEYRING}] ${mirror} ${suite} main`],
    // Root downloads into folders apt's sandbox user cannot write; the lab runs as root anyway.
    settings: { ...(await machineAcquireSettings()), 'APT::Sandbox::User': 'root' },
  });
  await apt.aptGet(['update', '-qq']);
  await apt.aptGet(['download', '-qq', ...packages], dir);
}

/** Package name -> Debian version of the .debs in `dir`, from their file names. */
function debVersions(packages: readonly string[], dir: string): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const pkg of packages) {
    const deb = debsOf(dir, pkg).pop();
    if (!deb) throw new Error(`apt-get download left no ${pkg} in ${dir}`);
    // apt names a download PACKAGE_VERSION_ARCH.deb, the epoch's colon escaped as %3a.
    versions[pkg] = decodeURIComponent(
      path
        .basename(deb)
        .slice(pkg.length + 1)
        .replace(/_[^_]+\.deb$/, ''),
    );
  }
  return versions;
}
