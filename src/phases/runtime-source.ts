import type { HostSpec } from '../config/cluster-spec.js';
import type { HostFacts } from '../engine/facts.js';
import type { OsAdapter, PackageRepo } from '../os/adapter.js';
import { APT_DISTRO_VARIABLE } from '../os/apt-query.js';
import { debianAdapter } from '../os/debian.js';
import { el7BaseRepos } from '../os/el-base-repo.js';
import type { RuntimeFactInput, RuntimeFacts } from '../runtime/facts.js';
import { chooseRuntimeSource, type PackageOffer, type RuntimeDecision, type RuntimeSourceSetting } from '../runtime/source.js';
import { archOfMachine, containerdMinimum, mustParseVersion, type Version } from '../upstream/index.js';

/**
 * The runtime's source for one host, from the config and what the host said (src/runtime/source.ts
 * decides): the offers as the host sees them, Docker's repositories as each family configures them,
 * and the questions the fact snippet asks.
 */

/** Docker's repositories name the runtime's packages alike on every family. */
export const DOCKER_REPO_PACKAGES = ['containerd.io', 'docker-ce', 'docker-ce-cli'] as const;

/** The distribution's runtime packages (Debian and Ubuntu; EL's own repositories carry none). */
const distroPackages = (adapter: OsAdapter) => [...adapter.packageNames('containerd'), ...adapter.packageNames('docker')];

/** What EL's docker-ce needs from the release's own repositories (extras): asking for it reads them all. */
const BASE_REPO_PACKAGES = ['container-selinux'];

export function runtimeSetting(host: HostSpec): RuntimeSourceSetting {
  return host.values.CONTAINER_RUNTIME_SOURCE as RuntimeSourceSetting;
}

/** docker-ce's yum repository, under the id and file name of Docker's own instructions (so it replaces theirs). */
export function dockerCeRepo(host: HostSpec): PackageRepo {
  return { id: 'docker-ce-stable', fileName: 'docker-ce', name: 'Docker CE Stable - $basearch', baseUrl: host.values.DOCKER_YUM_REPO!, gpgKey: host.values.DOCKER_YUM_GPGKEY! };
}

/**
 * Docker's apt repository, under the file name of Docker's own instructions (so it replaces
 * theirs). Without facts its URL keeps $distro, which the host's query fills in itself; with them
 * it is this host's: $distro, suite and architecture filled in.
 */
export function dockerAptRepo(host: HostSpec, facts?: HostFacts): PackageRepo {
  const repo: PackageRepo = { id: 'docker', fileName: 'docker', name: 'Docker CE', baseUrl: host.values.DOCKER_APT_REPO!, gpgKey: host.values.DOCKER_APT_GPGKEY!, components: 'stable' };
  if (!facts) return repo;
  const fill = (url: string) => url.replaceAll(APT_DISTRO_VARIABLE, facts.os.id);
  return { ...repo, baseUrl: fill(repo.baseUrl), gpgKey: fill(repo.gpgKey), suite: facts.os.codename, arch: archOfMachine(facts.machine) ?? facts.machine };
}

/** Docker's repository for the host's family. */
export function dockerRepo(host: HostSpec, adapter: OsAdapter, facts?: HostFacts): PackageRepo {
  return adapter.family === 'el' ? dockerCeRepo(host) : dockerAptRepo(host, facts);
}

/** EL 7's own repositories at EL_BASE_REPO, when it names a mirror. */
export function elBaseRepos(host: HostSpec): PackageRepo[] {
  const mirror = host.values.EL_BASE_REPO ?? '';
  return mirror ? el7BaseRepos(mirror) : [];
}

/** What the fact snippet asks the host's package managers, when there is a choice to make; nothing for the release binaries. */
export function runtimeFactInput(host: HostSpec): RuntimeFactInput {
  const dataRoot = host.values.DOCKER_DATA_ROOT!;
  const setting = runtimeSetting(host);
  if (setting === 'static' || setting === 'bundle') return { dataRoot };
  return {
    dataRoot,
    queries: {
      oldest: containerdMinimum(mustParseVersion(host.values.KUBE_VERSION!)),
      ...(setting === 'docker' ? {} : { distro: distroPackages(debianAdapter) }),
      docker: { names: DOCKER_REPO_PACKAGES, apt: dockerAptRepo(host), el: dockerCeRepo(host) },
      base: { names: BASE_REPO_PACKAGES, repos: elBaseRepos(host) },
    },
  };
}

/** Where the release binaries of a run come from: their containerd, and a few words for the plan. */
export interface StaticRelease {
  containerd: Version;
  label: string;
}

/** The release as this run would take it: CONTAINERD_VERSION, from the offline bundle or downloaded. */
export function configuredRelease(host: HostSpec, hasBundle: boolean): StaticRelease {
  return {
    containerd: mustParseVersion(host.values.CONTAINERD_VERSION!),
    label: hasBundle ? 'from the offline bundle' : 'downloaded from GITHUB_DOWNLOAD_URL and DOCKER_DOWNLOAD_URL',
  };
}

/** The decision for one host whose runtime facts were read. */
export function runtimeDecision(host: HostSpec, facts: HostFacts, adapter: OsAdapter, runtime: RuntimeFacts, release: StaticRelease): RuntimeDecision {
  const system = facts.os.prettyName.replace(/\s*\([^)]*\)$/, '');
  const distro: PackageOffer =
    adapter.family === 'el'
      ? { label: `${system}'s own repositories`, packages: [] }
      : { label: `${system}'s own packages`, packages: distroPackages(adapter), ...(runtime.distro ? { query: runtime.distro } : {}) };
  const repo = dockerRepo(host, adapter, facts);
  const docker: PackageOffer = {
    label: `Docker's repository ${repo.baseUrl}`,
    packages: [...DOCKER_REPO_PACKAGES],
    key: adapter.family === 'el' ? 'DOCKER_YUM_REPO' : 'DOCKER_APT_REPO',
    // Docker's repositories carry current releases: a host that cannot say (EL 7 without repoquery) takes them on trust.
    trustedWhenUnknown: true,
    ...(runtime.dockerRepo ? { query: runtime.dockerRepo } : {}),
  };
  return chooseRuntimeSource({
    setting: runtimeSetting(host),
    kube: mustParseVersion(host.values.KUBE_VERSION!),
    installed: { docker: runtime.docker, ...(runtime.containerd ? { containerd: runtime.containerd } : {}), ...(runtime.installedFrom ? { from: runtime.installedFrom } : {}) },
    distro,
    docker,
    static: release,
    allowUnsupported: host.values.CONTAINERD_ALLOW_UNSUPPORTED === 'true',
  });
}
