import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { cachedDir, shortHash } from './cache.js';
import { rootfsHash } from './rootfs.js';
import { runInOverlay, withRootfsOverlay } from './rootfs-overlay.js';
import { sh } from './run.js';

/**
 * The lab's local apt repo: hosts cannot reach Debian, so everything a test installs comes from
 * here. Each listed package is in the repo even if the rootfs has it already (re-installs, and
 * downgrade/upgrade tests need the file), plus every dependency the rootfs lacks.
 */
export const REPO_PACKAGES = [
  'etcd-server',
  'etcd-client',
  'docker.io',
  'containerd',
  'runc',
  'firewalld',
  'kmod',
  'conntrack',
  'socat',
  'ipset',
  'ebtables',
  'ethtool',
  'busybox-static',
  'iptables',
  'nftables',
  'curl',
  'openssl',
  'ca-certificates',
  'tar',
  // The node-local API load balancer (LB mode): Debian 12's 2.6; unstable's 3.x does not run on Debian 12.
  'haproxy',
];

const RECIPE_VERSION = 1;

export function repoHash(): string {
  return shortHash({ packages: REPO_PACKAGES, rootfs: rootfsHash(), recipe: RECIPE_VERSION });
}

export async function ensureRepo(rootfs: string, log: (msg: string) => void): Promise<string> {
  return cachedDir('repo', repoHash(), async (dir) => {
    log(`building the lab apt repo in ${dir} (downloads about 110 MB, once per machine)`);
    await downloadDebs(rootfs, dir);
    await indexRepo(dir);
  });
}

/**
 * Resolves and downloads inside an overlay of the rootfs, so apt sees exactly what a host has
 * installed and fetches what a host would lack. The machine's own sources are used for the
 * download only; the rootfs itself never gets them.
 */
async function downloadDebs(rootfs: string, out: string): Promise<void> {
  await withRootfsOverlay(rootfs, `${out}.work`, async (merged) => {
    fs.copyFileSync('/etc/apt/sources.list.d/debian.sources', path.join(merged, 'etc/apt/sources.list.d/debian.sources'));
    const script = ['set -e', 'export DEBIAN_FRONTEND=noninteractive', 'apt-get update -qq', `apt-get install -y -qq --download-only --reinstall ${REPO_PACKAGES.join(' ')}`].join('\n');
    await runInOverlay(merged, script, { logFile: `${out}.apt.log`, what: "downloading the lab repo's packages" });
    const archives = path.join(merged, 'var/cache/apt/archives');
    for (const f of fs.readdirSync(archives).filter((x) => x.endsWith('.deb'))) fs.copyFileSync(path.join(archives, f), path.join(out, f));
  });
  const missing = REPO_PACKAGES.filter((p) => !fs.readdirSync(out).some((f) => f.startsWith(`${p}_`)));
  if (missing.length > 0) throw new Error(`lab repo lacks ${missing.join(', ')} after download; check the package names against 'apt-cache policy'`);
}

/**
 * A flat repo (`deb [trusted=yes] URL ./`): Packages, Packages.gz, and a Release so apt accepts it.
 * `listed` says which packages the index names (default all): the others' .debs stay unlisted.
 */
export async function indexRepo(dir: string, listed: (pkg: string) => boolean = () => true): Promise<void> {
  const scanned = (await sh({ cwd: dir })`dpkg-scanpackages -m . /dev/null`).stdout;
  const packages = scanned
    .split(/\n(?=Package: )/)
    .filter((stanza) => listed(/^Package: (\S+)/.exec(stanza)?.[1] ?? ''))
    .join('\n');
  fs.writeFileSync(path.join(dir, 'Packages'), packages);
  fs.writeFileSync(path.join(dir, 'Packages.gz'), zlib.gzipSync(packages));
  fs.writeFileSync(path.join(dir, 'Release'), releaseFile(dir, ['Packages', 'Packages.gz']));
}

function releaseFile(dir: string, files: string[]): string {
  const lines = ['Origin: kubestrap-lab', 'Label: kubestrap-lab', `Date: ${new Date().toUTCString()}`, 'SHA256:'];
  for (const f of files) {
    const data = fs.readFileSync(path.join(dir, f));
    lines.push(` ${crypto.createHash('sha256').update(data).digest('hex')} ${data.length} ${f}`);
  }
  return lines.join('\n') + '\n';
}

/** The .deb files of a package in the repo (newest version last by name order). */
export function debsOf(repoDir: string, pkg: string): string[] {
  return fs
    .readdirSync(repoDir)
    .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
    .sort()
    .map((f) => path.join(repoDir, f));
}
