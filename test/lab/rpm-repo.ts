import fs from 'node:fs';
import path from 'node:path';
import { cachedDir, shortHash } from './cache.js';
import { repoHash } from './repo.js';
import { buildRpm, debFields, dependencyGroups, parseControl, rpmVersion, stageDeb } from './rpm-build.js';
import { sh } from './run.js';

/**
 * The lab's RPM repositories, served on the gateway under /el/ next to the apt repo: the packages
 * kubestrap's EL path installs, under their EL names, made with rpmbuild from the lab apt repo's
 * Debian packages, signed with a lab key and indexed with createrepo_c. Laid out like the real ones:
 *   /el/$releasever/os/$basearch/                  base packages (EL 7 or EL 9 names)
 *   /el/docker-ce/$releasever/$basearch/stable/    docker-ce, docker-ce-cli, containerd.io
 *   /el/RPM-GPG-KEY-kubestrap-lab                  the key every package is signed with
 */
export type RpmRepoName = 'el7' | 'el9' | 'docker-ce';

export interface ElPackage {
  name: string;
  /** Debian packages (in the lab apt repo) whose files it carries. */
  debs: readonly string[];
  repos: readonly RpmRepoName[];
  summary: string;
  requires?: readonly string[];
  provides?: readonly string[];
  obsoletes?: readonly string[];
  /** Only the paths matching this (a regex source); default all. */
  only?: string;
  /** None of the paths matching this. */
  except?: string;
  pre?: string;
}

const DOCKER_CLI_FILES = '^/usr/(bin/docker|share/(bash-completion/completions/docker|fish/vendor_completions\\.d/docker\\.fish|zsh/vendor-completions/_docker))$';
const BOTH: readonly RpmRepoName[] = ['el7', 'el9'];

/**
 * Names as the EL repositories have them. EL 9 ships iptables as iptables-nft, which provides
 * `iptables` and `ebtables`; EL 7 has both under their own names. EL 9 has no etcd package at all:
 * the lab offers one anyway, for tests that install it with dnf.
 */
export const EL_PACKAGES: readonly ElPackage[] = [
  { name: 'iptables', debs: ['iptables'], repos: ['el7'], summary: 'Tools for managing Linux kernel packet filtering' },
  {
    name: 'iptables-nft',
    debs: ['iptables'],
    repos: ['el9'],
    summary: 'nftables compatibility for iptables, arptables and ebtables',
    provides: ['iptables', 'ebtables', 'arptables'],
  },
  { name: 'ebtables', debs: ['ebtables'], repos: ['el7'], summary: 'Ethernet Bridge frame table administration tool' },
  { name: 'conntrack-tools', debs: ['conntrack'], repos: BOTH, summary: 'Manipulate netfilter connection tracking table' },
  { name: 'socat', debs: ['socat'], repos: BOTH, summary: 'Bidirectional data relay between two data channels' },
  { name: 'ipset-libs', debs: ['libipset13'], repos: BOTH, summary: 'Shared library providing the IP sets functionality' },
  { name: 'ipset', debs: ['ipset'], repos: BOTH, summary: 'Manage Linux IP sets', requires: ['ipset-libs'] },
  { name: 'curl', debs: ['curl'], repos: BOTH, summary: 'A utility for getting files from remote servers' },
  { name: 'ethtool', debs: ['ethtool'], repos: BOTH, summary: 'Settings tool for Ethernet NICs' },
  { name: 'tar', debs: ['tar'], repos: BOTH, summary: 'GNU file archiving program' },
  { name: 'nftables', debs: ['nftables'], repos: BOTH, summary: 'Netfilter Tables userspace utilities' },
  {
    name: 'etcd',
    debs: ['etcd-server', 'etcd-client'],
    repos: BOTH,
    summary: 'A highly-available key value store for shared configuration',
    pre: 'getent group etcd >/dev/null || groupadd -r etcd\ngetent passwd etcd >/dev/null || useradd -r -g etcd -d /var/lib/etcd -s /sbin/nologin -c "etcd user" etcd',
  },
  {
    name: 'containerd.io',
    debs: ['containerd', 'runc'],
    repos: ['docker-ce'],
    summary: 'An industry-standard container runtime',
    provides: ['containerd', 'runc'],
    obsoletes: ['containerd', 'runc'],
  },
  { name: 'docker-ce-cli', debs: ['docker.io'], repos: ['docker-ce'], summary: 'The open-source application container engine', only: DOCKER_CLI_FILES },
  {
    name: 'docker-ce',
    debs: ['docker.io', 'tini'],
    repos: ['docker-ce'],
    summary: 'The open-source application container engine',
    requires: ['docker-ce-cli', 'containerd.io', 'iptables'],
    except: DOCKER_CLI_FILES,
    pre: 'getent group docker >/dev/null || groupadd --system docker',
  },
];

/** Bump when the build below changes: it is part of the cache key. */
const RECIPE_VERSION = 1;
export const RPM_KEY_FILE = 'RPM-GPG-KEY-kubestrap-lab';
const KEY_NAME = 'kubestrap lab RPM signing key';

export function rpmRepoHash(): string {
  return shortHash({ apt: repoHash(), packages: EL_PACKAGES, recipe: RECIPE_VERSION });
}

/** Where each repository lives below the /el/ root, per EL release. */
export function rpmRepoPaths(repo: RpmRepoName): string[] {
  if (repo === 'docker-ce') return ['7', '9'].map((v) => `docker-ce/${v}/x86_64/stable`);
  return [`${repo.slice(2)}/os/x86_64`];
}

/** Where the gateway serves the RPM repos (below the apt repo's root). */
export const RPM_URL_PATH = '/el';

/** The URLs of the RPM repos as a .repo file takes them ($releasever and $basearch left to dnf). */
export interface LabRpmRepos {
  /** The base repo of the host's EL release: every EL host's only repo at boot. */
  baseUrl: string;
  /** docker-ce, docker-ce-cli, containerd.io, laid out like download.docker.com/linux/centos: a value for DOCKER_YUM_REPO. */
  dockerCeUrl: string;
  /** The public key that signed every package (gpgkey= of a .repo file). */
  gpgKeyUrl: string;
}

export function rpmRepoUrls(repoUrl: string): LabRpmRepos {
  const root = `${repoUrl}${RPM_URL_PATH}`;
  return {
    baseUrl: `${root}/$releasever/os/$basearch`,
    dockerCeUrl: `${root}/docker-ce/$releasever/$basearch/stable`,
    gpgKeyUrl: `${root}/${RPM_KEY_FILE}`,
  };
}

export async function ensureRpmRepo(aptRepo: string, rootfs: string, log: (msg: string) => void): Promise<string> {
  return cachedDir('rpmrepo', rpmRepoHash(), async (dir) => {
    log(`building the lab RPM repos in ${dir} (rpmbuild from the apt repo's packages, once per machine)`);
    const pool = path.join(dir, 'packages');
    fs.mkdirSync(pool);
    checkDependencies(aptRepo, rootfs);
    const built = new Map<string, string>();
    for (const pkg of EL_PACKAGES) built.set(pkg.name, await buildElPackage(pkg, aptRepo, rootfs, pool));
    await signAll(dir, [...built.values()]);
    for (const repo of ['el7', 'el9', 'docker-ce'] as const) {
      const rpms = EL_PACKAGES.filter((p) => p.repos.includes(repo)).map((p) => built.get(p.name)!);
      for (const rel of rpmRepoPaths(repo)) {
        const at = path.join(dir, rel);
        fs.mkdirSync(at, { recursive: true });
        for (const rpm of rpms) fs.linkSync(rpm, path.join(at, path.basename(rpm)));
        await sh`createrepo_c --quiet ${at}`;
      }
    }
  });
}

function debOf(aptRepo: string, pkg: string): string {
  const files = fs
    .readdirSync(aptRepo)
    .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
    .sort();
  const last = files.at(-1);
  if (!last) throw new Error(`the lab apt repo ${aptRepo} has no ${pkg}_*.deb; add ${pkg} to REPO_PACKAGES in test/lab/repo.ts`);
  return path.join(aptRepo, last);
}

async function buildElPackage(pkg: ElPackage, aptRepo: string, rootfs: string, pool: string): Promise<string> {
  const staging = path.join(pool, `.staging-${pkg.name}`);
  fs.mkdirSync(staging, { recursive: true });
  const only = pkg.only ? new RegExp(pkg.only) : undefined;
  const except = pkg.except ? new RegExp(pkg.except) : undefined;
  const keep = (p: string): boolean => (!only || only.test(p)) && !except?.test(p);
  try {
    const conffiles: string[] = [];
    const fields = [];
    for (const name of pkg.debs) {
      const deb = debOf(aptRepo, name);
      fields.push(await debFields(deb));
      conffiles.push(...(await stageDeb(deb, staging, keep)));
    }
    const first = fields[0]!;
    return await buildRpm(
      {
        name: pkg.name,
        ...rpmVersion(first.Version ?? '0'),
        arch: fields.every((f) => f.Architecture === 'all') ? 'noarch' : 'x86_64',
        summary: pkg.summary,
        description: `${pkg.summary}.\nMade for the kubestrap lab from Debian's ${pkg.debs.join(', ')} ${first.Version}.`,
        ...(pkg.requires ? { requires: pkg.requires } : {}),
        ...(pkg.provides ? { provides: pkg.provides } : {}),
        ...(pkg.obsoletes ? { obsoletes: pkg.obsoletes } : {}),
        ...(pkg.pre ? { pre: pkg.pre } : {}),
      },
      staging,
      conffiles,
      rootfs,
      pool,
    );
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Every dependency of every Debian package an RPM carries whole must be met on an EL host: by the
 * hosts' Debian base (the rootfs), by the same RPM, or by an RPM it requires. Checked before
 * building, so that a package that installs but cannot run never reaches the repo.
 */
function checkDependencies(aptRepo: string, rootfs: string): void {
  const installed = new Set<string>();
  for (const p of parseControl(fs.readFileSync(path.join(rootfs, 'var/lib/dpkg/status'), 'utf8'))) {
    if (!/\binstalled$/.test(p.Status ?? '')) continue;
    installed.add(p.Package!);
    for (const [name] of dependencyGroups(p.Provides)) if (name) installed.add(name);
  }
  const index = parseControl(fs.readFileSync(path.join(aptRepo, 'Packages'), 'utf8'));
  const carriers = (deb: string): string[] => EL_PACKAGES.filter((p) => p.debs.includes(deb)).map((p) => p.name);
  const problems: string[] = [];
  // A package that picks a few files out of a Debian package (docker-ce-cli) cannot be judged by
  // that package's dependencies; the one carrying the rest (docker-ce) is.
  for (const pkg of EL_PACKAGES.filter((p) => !p.only)) {
    const reachable = new Set([pkg.name, ...(pkg.requires ?? [])]);
    for (const deb of pkg.debs) {
      const fields = index.find((p) => p.Package === deb);
      if (!fields) throw new Error(`the lab apt repo's index has no ${deb}; add it to REPO_PACKAGES in test/lab/repo.ts`);
      for (const group of dependencyGroups([fields['Pre-Depends'], fields.Depends].filter(Boolean).join(', '))) {
        const met = group.some((alt) => installed.has(alt) || carriers(alt).some((c) => reachable.has(c)));
        if (!met) problems.push(`${pkg.name} (from ${deb}) needs ${group.join(' | ')}, which neither the hosts' base nor its requires provide`);
      }
    }
  }
  if (problems.length) throw new Error(`lab RPMs would not run:\n  ${problems.join('\n  ')}\nfix EL_PACKAGES in test/lab/rpm-repo.ts`);
}

/**
 * Signs every RPM with a key made for this build (its secret half is deleted afterwards) and puts
 * the public key next to the repos, so hosts can keep gpgcheck=1: nothing unverified is installed.
 */
async function signAll(dir: string, rpms: string[]): Promise<void> {
  const home = `${dir}.gnupg`;
  fs.rmSync(home, { recursive: true, force: true });
  fs.mkdirSync(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  try {
    await sh({ env })`gpg --batch --quiet --pinentry-mode loopback --passphrase ${''} --quick-gen-key ${KEY_NAME} rsa3072 sign never`;
    await sh({ env })`gpg --batch --armor --export ${KEY_NAME} > ${path.join(dir, RPM_KEY_FILE)}`;
    const defines = ['_gpg_name', KEY_NAME, '_gpg_path', home, '__gpg', '/usr/bin/gpg'].flatMap((v, i, all) => (i % 2 ? [] : ['--define', `${v} ${all[i + 1]}`]));
    await sh({ env })`rpmsign --addsign ${defines} ${rpms}`;
  } finally {
    await sh({ env, nothrow: true })`gpgconf --kill all`;
    fs.rmSync(home, { recursive: true, force: true });
  }
}
