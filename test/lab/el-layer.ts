import fs from 'node:fs';
import path from 'node:path';
import { cachedDir, shortHash } from './cache.js';
import { EL_RELEASES, type ElFlavour, type ElRelease } from './flavours.js';
import { unmountUnder } from './mounts.js';
import { rootfsHash } from './rootfs.js';
import { buildRpm } from './rpm-build.js';
import { sh } from './run.js';

/**
 * The extra read-only layers of an EL host, stacked on the Debian rootfs (overlayfs lower dirs):
 *   el-tools-<hash>  Debian's rpm, dnf, selinux-utils and policycoreutils, an rpm database at
 *                    /var/lib/rpm, dnf configured as on EL (gpgcheck on, no skipped repos),
 *                    /etc/selinux/config saying enforcing, an empty /etc/yum.repos.d
 *   el7-<hash>       CentOS 7: its release package in the rpm database (os-release, redhat-release,
 *   el9-<hash>       $releasever), and `yum` as the only package manager command (el7) or `yum`
 *                    pointing at dnf (el9)
 * Each is an overlay upper dir built once per machine, keyed like the rootfs, so an EL host boots
 * as fast as a Debian one.
 */
export const EL_TOOLS = ['rpm', 'dnf', 'selinux-utils', 'policycoreutils'];

/** Bump when a build below changes: they are part of the cache keys. */
const TOOLS_RECIPE = 1;
const RELEASE_RECIPE = 1;

function toolsHash(): string {
  return shortHash({ rootfs: rootfsHash(), packages: EL_TOOLS, recipe: TOOLS_RECIPE });
}

/** The lower dirs of an EL host above the rootfs, topmost first. */
export async function ensureElLayers(flavour: ElFlavour, rootfs: string, log: (msg: string) => void): Promise<string[]> {
  const tools = await cachedDir('el-tools', toolsHash(), async (dir) => {
    log(`building the EL tools layer in ${dir} (apt installs dnf and rpm, about a minute, once per machine)`);
    await buildLayer(dir, [rootfs], (merged) => installTools(merged));
  });
  const release = EL_RELEASES[flavour];
  const own = await cachedDir(flavour, shortHash({ tools: toolsHash(), release, recipe: RELEASE_RECIPE }), async (dir) => {
    log(`building the ${flavour} layer in ${dir}`);
    await buildLayer(dir, [tools, rootfs], (merged) => installRelease(merged, release, rootfs));
  });
  return [own, tools];
}

/** Runs `fill` on an overlay of `lowers` whose upper dir is `dir`: what `fill` changes becomes the layer. */
async function buildLayer(dir: string, lowers: string[], fill: (merged: string) => Promise<void>): Promise<void> {
  const work = `${dir}.work`;
  const merged = `${work}/merged`;
  fs.mkdirSync(`${work}/work`, { recursive: true });
  fs.mkdirSync(merged, { recursive: true });
  // Plain copy-ups only: no redirects or metacopy entries, which a lower layer would need the same options to read.
  const options = `lowerdir=${lowers.join(':')},upperdir=${dir},workdir=${work}/work,redirect_dir=off,index=off,metacopy=off`;
  await sh`mount -t overlay overlay -o ${options} ${merged}`;
  try {
    await fill(merged);
  } finally {
    await unmountUnder(merged);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function put(root: string, file: string, content: string, mode = 0o644): void {
  const p = path.join(root, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.rmSync(p, { force: true });
  fs.writeFileSync(p, content, { mode });
}

function link(root: string, file: string, target: string): void {
  const p = path.join(root, file);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.rmSync(p, { force: true });
  fs.symlinkSync(target, p);
}

async function installTools(merged: string): Promise<void> {
  const sources = path.join(merged, 'etc/apt/sources.list.d/debian.sources');
  fs.copyFileSync('/etc/apt/sources.list.d/debian.sources', sources);
  const log = `${merged}.apt.log`;
  const script = ['set -e', 'export DEBIAN_FRONTEND=noninteractive', 'apt-get update -qq', `apt-get install -y -qq --no-install-recommends ${EL_TOOLS.join(' ')}`, 'apt-get clean'].join('\n');
  try {
    // bind-host: the machine's resolver for apt, without writing it into the layer.
    await sh`systemd-nspawn --quiet --register=no --keep-unit --resolv-conf=bind-host --directory=${merged} /bin/sh -c ${script} >${log} 2>&1`;
  } catch {
    const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`installing ${EL_TOOLS.join(', ')} for the EL layer failed:\n${tail}`);
  }
  fs.rmSync(log, { force: true });
  // No apt source and no package lists: an EL host knows only the lab's RPM repos.
  fs.rmSync(sources);
  const lists = path.join(merged, 'var/lib/apt/lists');
  for (const f of fs.readdirSync(lists)) if (f !== 'partial' && f !== 'lock') fs.rmSync(path.join(lists, f), { recursive: true, force: true });

  // Debian's rpm keeps its database in ~/.rpmdb; EL's is /var/lib/rpm, which dnf then uses too.
  put(merged, 'etc/rpm/macros.dbpath', '%_dbpath /var/lib/rpm\n');
  fs.mkdirSync(path.join(merged, 'var/lib/rpm'), { recursive: true });
  await sh`chroot ${merged} rpm --initdb`;
  // EL's defaults, not Debian's (which skips an unreachable repo and checks no signature).
  put(merged, 'etc/dnf/dnf.conf', '[main]\ngpgcheck=1\ninstallonly_limit=3\nclean_requirements_on_remove=True\nbest=True\nskip_if_unavailable=False\n');
  link(merged, 'etc/yum.conf', 'dnf/dnf.conf');
  fs.mkdirSync(path.join(merged, 'etc/yum.repos.d'), { recursive: true });
  put(
    merged,
    'etc/selinux/config',
    [
      '# This file controls the state of SELinux on the system.',
      '# SELINUX= can take one of these three values:',
      '#     enforcing - SELinux security policy is enforced.',
      '#     permissive - SELinux prints warnings instead of enforcing.',
      '#     disabled - No SELinux policy is loaded.',
      'SELINUX=enforcing',
      '# SELINUXTYPE= can take one of three values:',
      '#     targeted - Targeted processes are protected,',
      '#     minimum - Modification of targeted policy. Only selected processes are protected.',
      '#     mls - Multi Level Security protection.',
      'SELINUXTYPE=targeted',
      '',
    ].join('\n'),
  );
}

/**
 * The release's identity, installed as EL installs it: by its release package, into the rpm
 * database, so that /etc/os-release, /etc/redhat-release and dnf's $releasever all come from rpm.
 */
async function installRelease(merged: string, release: ElRelease, rootfs: string): Promise<void> {
  const staging = `${merged}.release`;
  const out = `${merged}.rpms`;
  fs.mkdirSync(out, { recursive: true });
  const { name, version, release: rel, summary } = release.releasePackage;
  try {
    put(staging, `etc/${release.releaseFile}`, `${release.releaseLine}\n`);
    link(staging, 'etc/redhat-release', release.releaseFile);
    link(staging, 'etc/system-release', release.releaseFile);
    put(staging, 'etc/system-release-cpe', `${release.cpe}\n`);
    put(staging, 'usr/lib/os-release', release.osRelease);
    link(staging, 'etc/os-release', '../usr/lib/os-release');
    const releaseRpm = await buildRpm(
      {
        name,
        version,
        release: rel,
        arch: 'noarch',
        summary,
        description: `${summary} (kubestrap lab: a Debian 12 host that presents itself as this release).`,
        provides: [`system-release = ${version}-${rel}`, `system-release(releasever) = ${release.releasever}`, `redhat-release = ${version}-${rel}`],
      },
      staging,
      [],
      rootfs,
      out,
    );
    fs.rmSync(staging, { recursive: true, force: true });
    // What a real host's rpm database has from bash: RPMs with scriptlets require /bin/sh.
    fs.mkdirSync(staging, { recursive: true });
    const baseRpm = await buildRpm(
      {
        name: 'kubestrap-lab-base',
        version: '12',
        release: '1',
        arch: 'noarch',
        summary: "The lab host's Debian 12 base system, as far as rpm needs to know it",
        description: 'Owns no files. Provides the shell that RPM scriptlets run with, which EL has from its bash package.',
        provides: ['/bin/sh', '/bin/bash', '/usr/bin/sh', '/usr/bin/bash'],
      },
      staging,
      [],
      rootfs,
      out,
    );
    fs.mkdirSync(path.join(merged, 'tmp/lab-rpms'), { recursive: true });
    for (const rpm of [releaseRpm, baseRpm]) fs.copyFileSync(rpm, path.join(merged, 'tmp/lab-rpms', path.basename(rpm)));
    // Debian's rpm refuses to install packages unless told it is meant (--force-debian); dnf never asks.
    await sh`chroot ${merged} sh -c ${'rpm -i --force-debian /tmp/lab-rpms/*.rpm'}`;
    fs.rmSync(path.join(merged, 'tmp/lab-rpms'), { recursive: true, force: true });
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
  usePackageManager(merged, release.packageManager);
}

/**
 * EL 8 and 9 have `yum` as a link to dnf. EL 7 has only yum, and kubestrap takes dnf when both exist,
 * so an el7 host gets Debian's dnf under the name yum, and no dnf command.
 */
function usePackageManager(merged: string, manager: 'yum' | 'dnf'): void {
  const bin = path.join(merged, 'usr/bin');
  if (manager === 'dnf') {
    link(merged, 'usr/bin/yum', 'dnf-3');
    return;
  }
  const dnf = fs.readFileSync(path.join(bin, 'dnf-3'));
  fs.rmSync(path.join(bin, 'dnf'));
  fs.rmSync(path.join(bin, 'dnf-3'));
  fs.writeFileSync(path.join(bin, 'yum'), dnf, { mode: 0o755 });
}
