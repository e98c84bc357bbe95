import type { PackageTool } from '../engine/kinds/kind.js';

/**
 * What differs between Linux families for the things a provisioner touches. Phases ask the adapter;
 * they never test the family themselves.
 */
export type OsFamily = 'el' | 'debian';

/** The command that installs packages on a host. */
export type PackageManager = 'dnf' | 'yum' | 'apt';

/**
 * Packages by what they are for; each family (and EL release) knows its own names. `docker-cli`:
 * the docker command where its package is apart from the daemon's, which only recommends it
 * (installed where the package manager offers it).
 */
export type GenericPackage =
  | 'iptables'
  | 'conntrack'
  | 'socat'
  | 'ipset'
  | 'ebtables'
  | 'curl'
  | 'containerd'
  | 'docker'
  | 'tar'
  | 'gzip'
  | 'kmod'
  | 'procps'
  | 'diffutils'
  | 'iproute'
  | 'ipvsadm'
  | 'nftables'
  | 'docker-cli';

/** A package repository kubestrap configures on a host (e.g. docker-ce's), by its base URL. */
export interface PackageRepo {
  /** Repository id, as the package manager names it: `docker-ce-stable`. */
  id: string;
  /** Name of its configuration file, without directory or extension: `docker-ce`. */
  fileName: string;
  name: string;
  /** May hold the package manager's variables (`$releasever`, `$basearch`). */
  baseUrl: string;
  /** URL of the key that signs its packages: signatures are always checked. */
  gpgKey: string;
  /** apt: the components of its suite. Default: stable. */
  components?: string;
  /**
   * apt, for the file only (a query reads them on the host): the suite (the host's release
   * codename) and the architecture, with $distro already filled in in `baseUrl` and `gpgKey`.
   */
  suite?: string;
  arch?: string;
}

/** The engine's view of a package manager (probe, install) is part of every adapter. */
export interface OsAdapter extends PackageTool {
  readonly family: OsFamily;
  readonly packageManager: PackageManager;
  /** Firewall services this family may run; all are stopped and disabled. */
  readonly firewallServices: readonly string[];
  readonly managesSelinux: boolean;
  /** The package names for `generic` (EL 9 ships iptables and ebtables as iptables-nft). */
  packageNames(generic: GenericPackage): string[];
  /**
   * Shell that installs `names` and fails unless each is installed afterwards; a failure's output
   * ends with the package manager's error, the packages missing and the repositories it used.
   */
  installPackages(names: readonly string[]): string;
  /**
   * Where the definition of the package repository `name` lives on this family: a phase that adds
   * a repository (docker-ce) owns this file. `/etc/yum.repos.d/<name>.repo` on EL.
   */
  repoFilePath(name: string): string;
  /**
   * Shell that only looks: prints `NAME VERSION` for each of `names` the package manager can
   * install (from `repos` alone when given, even before their files are written; else from the
   * host's own), then `rc N` with the query's exit status (`rc unknown`: it cannot tell); a failed
   * query's own last lines follow, each behind `| ` (an unreachable repository).
   */
  candidateVersions(names: readonly string[], repos?: readonly PackageRepo[]): string;
  /** The file that configures `repo` for this family's package manager. */
  repoFile(repo: PackageRepo): { path: string; content: string };
  /**
   * Where this family wants the key that signs `repo` on the host, and the shell that fetches it
   * there; undefined where the package manager fetches it itself (yum and dnf, from `gpgkey=`).
   */
  repoKey(repo: PackageRepo): { path: string; fetch: string } | undefined;
}

/** Repository file names: a word, as every package manager accepts it as a file name and id. */
export function checkRepoName(name: string): string {
  if (!/^[A-Za-z0-9][\w.-]*$/.test(name)) throw new Error(`'${name}' is not a usable repository name (letters, digits, . _ -)`);
  return name;
}
