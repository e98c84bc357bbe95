import { posix } from 'node:path';
import { isOn } from '../components/catalog.js';
import type { HostSpec } from '../config/cluster-spec.js';
import type { ContainerRuntimeSource } from '../config/keys.js';
import { containerdSupports, containerdSupportText, type Version } from '../upstream/index.js';
import { parseCidr, cidrContains } from '../config/validators.js';
import { defineFact, readFact, type HostFacts } from '../engine/facts.js';
import type { CommandResource, Resource } from '../engine/resource.js';
import { HostError, type KubestrapError } from '../errors.js';
import type { OsAdapter, PackageRepo } from '../os/adapter.js';
import { debianAdapter } from '../os/debian.js';
import { detectOs } from '../os/detect.js';
import { elAdapter } from '../os/el.js';
import { parseRuntimeFacts, runtimeFactSnippet, type RuntimeFacts } from '../runtime/facts.js';
import { imageResources, type ImageArchive } from '../runtime/images.js';
import { registryHostsFiles } from '../runtime/registry-hosts.js';
import { runtimeUnits } from '../runtime/units.js';
import { containerdConfigVersion, containerdTakesCniBinDirs, leadingVersion } from '../runtime/versions.js';
import { fileResource } from './file-resource.js';
import { runningService } from './services.js';
import { filesOf, type ClusterContext, type ClusterHost, type Phase, type PhaseContext } from './phase.js';

/** The runtime's static binaries from the offline bundle, for CONTAINER_RUNTIME_SOURCE=bundle. */
export interface RuntimeBundle {
  /** The bundle's containerd: its config format follows it before the host has any. */
  containerdVersion: Version;
  /**
   * Resources that put containerd, its shim, ctr, runc, docker, dockerd, docker-proxy and
   * docker-init for this host's architecture into HOST_PATHS.runtimeBinDir; a changed binary
   * restarts the service that runs it.
   */
  binaries(ctx: PhaseContext): Resource[];
}

/** What the runtime phase takes from outside the cluster's config: the offline bundle. */
export interface RuntimeInputs {
  /** Images a host imports into containerd when they are missing (pause, CoreDNS). */
  images?(host: HostSpec): readonly ImageArchive[];
  bundle?: RuntimeBundle;
}

export type CgroupDriver = 'systemd' | 'cgroupfs';

/** The hosts the component catalog gives the runtime (where the kubelet runs). */
const hasRuntime = (host: HostSpec) => isOn(host, 'containerd');

/**
 * containerd (the kubelet's CRI) and Docker (for the people on the node), from the OS's packages:
 * Debian's docker.io and containerd, or on EL docker-ce, docker-ce-cli and containerd.io from the
 * docker-ce repository at DOCKER_YUM_REPO. The configuration is written before the packages
 * arrive, so the services start on it. containerd's config format and the cgroup driver follow
 * what the host is (facts), registries live in hosts.toml files that need no restart, and images
 * that no registry serves are imported only when containerd lacks them.
 */
export function createRuntimePhase(inputs: RuntimeInputs = {}): Phase {
  return {
    name: 'runtime',
    title: 'container runtime (containerd, Docker)',
    appliesTo: hasRuntime,
    facts: (host) => (hasRuntime(host) ? [RUNTIME_FACT] : []),
    hostValues: (host, facts) => {
      const runtime = runtimeFactsOf(facts);
      const bundled = sourceOf(host) === 'bundle' ? inputs.bundle?.containerdVersion : undefined;
      const containerd = runtime?.containerd ?? bundled ?? (facts && runtime ? expectedContainerd(runtime, adapterOf(host, facts)) : undefined);
      return {
        CGROUP_DRIVER: cgroupDriver(host, facts, runtime),
        CONTAINERD_CONFIG_VERSION: containerdConfigVersion(containerd),
        CONTAINERD_CNI_BIN_DIRS: String(containerdTakesCniBinDirs(containerd)),
      };
    },
    resources: (ctx) => runtimeResources(ctx, inputs),
    preflight: (ctx) => ctx.hosts.filter((h) => hasRuntime(h.host)).flatMap((h) => runtimeProblems(ctx, h, inputs)),
  };
}

export const runtimePhase = createRuntimePhase();

function sourceOf(host: HostSpec): ContainerRuntimeSource {
  return host.values.CONTAINER_RUNTIME_SOURCE as ContainerRuntimeSource;
}

/** docker-ce's yum repository, under the id and file name of Docker's own instructions (so it replaces theirs). */
export function dockerCeRepo(host: HostSpec): PackageRepo {
  return { id: 'docker-ce-stable', fileName: 'docker-ce', name: 'Docker CE Stable - $basearch', baseUrl: host.values.DOCKER_YUM_REPO!, gpgKey: host.values.DOCKER_YUM_GPGKEY! };
}

function runtimePackages(adapter: OsAdapter): string[] {
  return [...adapter.packageNames('containerd'), ...adapter.packageNames('docker')];
}

/**
 * The docker command where the Docker packages leave it out: Debian 13's docker.io and later only
 * recommend docker-cli, and kubestrap installs without recommends; Debian 12's docker.io and EL's
 * docker-ce-cli (one of docker's packages) bring it. A fresh host's package lists cannot tell which
 * archive it has (it never ran apt-get update), so this runs after the packages, and installs only
 * when the command is still missing then.
 */
function dockerCommand(adapter: OsAdapter): CommandResource[] {
  const names = adapter.packageNames('docker-cli');
  if (names.length === 0) return [];
  const present = 'command -v docker >/dev/null 2>&1';
  return [
    {
      kind: 'command',
      name: 'docker-command',
      description: `install ${names.join(', ')} unless the Docker packages brought the docker command`,
      check: present,
      run: `${present} || { ${adapter.installPackages(names)}; }`,
      failureHint: adapter.installFailureHint,
    },
  ];
}

function factInput(host: HostSpec) {
  const dataRoot = host.values.DOCKER_DATA_ROOT!;
  if (sourceOf(host) !== 'package') return { dataRoot };
  return { dataRoot, packages: { apt: runtimePackages(debianAdapter), el: runtimePackages(elAdapter(9, 'dnf')), repo: dockerCeRepo(host) } };
}

/** What the runtime's snippet (for the host's own settings) says; undefined where it did not run. */
const RUNTIME_FACT = defineFact<RuntimeFacts | undefined, HostSpec>(
  'runtime',
  (host) => runtimeFactSnippet(factInput(host)),
  (out) => (out === undefined ? undefined : parseRuntimeFacts(out)),
);

function runtimeFactsOf(facts: HostFacts | undefined): RuntimeFacts | undefined {
  return facts ? readFact(facts, RUNTIME_FACT) : undefined;
}

function adapterOf(host: HostSpec, facts: HostFacts): OsAdapter | undefined {
  try {
    return detectOs(host.name, facts).adapter;
  } catch {
    return undefined; // the engine refuses such a host itself, with the reason
  }
}

/**
 * The kubelet and the runtime must agree on who manages cgroups. systemd where it can (cgroup v2,
 * and EL, where systemd is the recommended driver on v1 too); cgroupfs on a v1 Debian host. A host
 * not read yet is assumed to be a current one: cgroup v2.
 */
export function cgroupDriver(host: HostSpec, facts: HostFacts | undefined, runtime: RuntimeFacts | undefined): CgroupDriver {
  if (!facts || !runtime) return 'systemd';
  return runtime.cgroupVersion === 2 || adapterOf(host, facts)?.family === 'el' ? 'systemd' : 'cgroupfs';
}

/** The containerd the host has, or the one its package manager would install. */
function expectedContainerd(runtime: RuntimeFacts, adapter: OsAdapter | undefined): Version | undefined {
  if (runtime.containerd) return runtime.containerd;
  const name = adapter?.packageNames('containerd')[0];
  const candidate = name ? runtime.candidates?.get(name) : undefined;
  return candidate ? leadingVersion(candidate) : undefined;
}

function runtimeResources(ctx: PhaseContext, inputs: RuntimeInputs): Resource[] {
  const { host, os, files } = ctx;
  const bundle = sourceOf(host) === 'bundle' ? inputs.bundle : undefined;
  const repoFile = sourceOf(host) === 'package' ? os.adapter.repoFile(dockerCeRepo(host)) : undefined;
  const registries = registryHostsFiles(host.values.DOCKER_REGISTRY_MIRRORS ?? '', host.values.DOCKER_INSECURE_REGISTRIES ?? '');
  const plain = (path: string, content: string): Resource => ({ kind: 'file', path, content, mode: 0o644, owner: 'root', group: 'root', restarts: [] });
  return [
    ...(repoFile ? [plain(repoFile.path, repoFile.content)] : []),
    // Before the packages: their services then start on this configuration, not the packaged one.
    ...filesOf('runtime', files).map(fileResource),
    // A registry dropped from the config loses its hosts.toml and then its folder: the engine removes what it recorded.
    ...registries.flatMap((r): Resource[] => [{ kind: 'directory', path: posix.dirname(r.path), mode: 0o755, owner: 'root', group: 'root' }, plain(r.path, r.content)]),
    ...(bundle ? [...bundle.binaries(ctx), ...runtimeUnits().map((u) => plain(u.path, u.content))] : [{ kind: 'package', names: runtimePackages(os.adapter) } as const, ...dockerCommand(os.adapter)]),
    runningService(ctx.spec, host, 'containerd'),
    runningService(ctx.spec, host, 'docker'),
    ...(inputs.images?.(host) ?? []).flatMap((image) => imageResources(image)),
  ];
}

/** Everything about a host that would make the runtime fail, found before anything changes anywhere. */
function runtimeProblems(ctx: ClusterContext, { host, facts, os }: ClusterHost, inputs: RuntimeInputs): KubestrapError[] {
  const runtime = runtimeFactsOf(facts);
  if (!runtime) return [];
  return [...packageProblems(ctx, host, os.adapter, runtime), ...bundleProblems(host, inputs), ...dataRootProblems(host, runtime), ...bridgeProblems(host, facts)];
}

function bundleProblems(host: HostSpec, inputs: RuntimeInputs): KubestrapError[] {
  if (sourceOf(host) !== 'bundle' || inputs.bundle) return [];
  return [
    new HostError(
      host.name,
      'CONTAINER_RUNTIME_SOURCE=bundle installs containerd, runc and Docker from an offline bundle, and this run has none with them',
      { resource: 'CONTAINER_RUNTIME_SOURCE' },
      "give the run an offline bundle that holds the runtime's static binaries, or set CONTAINER_RUNTIME_SOURCE=package",
    ),
  ];
}

function packageProblems(ctx: ClusterContext, host: HostSpec, adapter: OsAdapter, runtime: RuntimeFacts): KubestrapError[] {
  if (sourceOf(host) !== 'package') return [];
  const repo = dockerCeRepo(host);
  const fromRepo = adapter.repoFile(repo) !== undefined;
  const where = fromRepo ? `the docker-ce repository ${repo.baseUrl}` : 'its package sources';
  const key = fromRepo ? 'DOCKER_YUM_REPO' : 'CONTAINER_RUNTIME_SOURCE';
  const fix = fromRepo
    ? 'set DOCKER_YUM_REPO to a docker-ce repository this host reaches (a mirror, or an offline copy), or CONTAINER_RUNTIME_SOURCE=bundle'
    : 'add a package source that has them (and run apt-get update), or set CONTAINER_RUNTIME_SOURCE=bundle to install from the offline bundle';
  const wanted = runtimePackages(adapter);
  if (runtime.queryFailure) {
    const said = runtime.queryFailure.output ? `: ${runtime.queryFailure.output.split('\n').at(-1)}` : '';
    return [new HostError(host.name, `cannot read ${where} to install ${wanted.join(', ')} (exit ${runtime.queryFailure.exitCode})${said}`, { resource: key }, fix)];
  }
  const problems: KubestrapError[] = [];
  const installed = (name: string) => (adapter.packageNames('containerd').includes(name) ? runtime.containerd !== undefined : runtime.docker);
  const missing = runtime.candidates ? wanted.filter((name) => !installed(name) && !runtime.candidates!.has(name)) : [];
  if (missing.length) problems.push(new HostError(host.name, `the package manager finds no ${missing.join(', ')} in ${where}`, { resource: key }, fix));

  const containerd = expectedContainerd(runtime, adapter);
  const kube = ctx.spec.kubeVersion;
  if (containerd && !containerdSupports(kube, containerd)) {
    const state = runtime.containerd ? 'installed' : `offered by ${where}`;
    const supported = containerdSupportText(kube);
    problems.push(
      new HostError(
        host.name,
        `containerd ${containerd.tag} (${state}) is not one that Kubernetes ${kube.tag} supports (containerd's table: ${supported})`,
        { resource: 'KUBE_VERSION' },
        runtime.containerd
          ? `upgrade containerd on this host to ${supported}, or choose a KUBE_VERSION that supports ${containerd.tag}`
          : `${fromRepo ? 'point DOCKER_YUM_REPO at a repository with a newer containerd.io' : 'add a package source with a newer containerd'}, use CONTAINER_RUNTIME_SOURCE=bundle, or choose a KUBE_VERSION that supports ${containerd.tag}`,
      ),
    );
  }
  return problems;
}

function dataRootProblems(host: HostSpec, runtime: RuntimeFacts): KubestrapError[] {
  const dataRoot = host.values.DOCKER_DATA_ROOT!;
  const fix = "mount the disk meant for Docker's data (and list it in /etc/fstab), or set DOCKER_DATA_ROOT to a directory on a mounted filesystem";
  const problems = runtime.unmountedDataRootMounts.map(
    (mount) => new HostError(host.name, `Docker's data root ${dataRoot} is on ${mount}, which /etc/fstab lists but is not mounted`, { resource: 'DOCKER_DATA_ROOT' }, fix),
  );
  if (runtime.dataRootTopMissing) {
    const top = `/${dataRoot.split('/').filter(Boolean)[0]}`;
    problems.push(new HostError(host.name, `Docker's data root ${dataRoot} is under ${top}, which does not exist: a disk meant to be mounted there is missing`, { resource: 'DOCKER_DATA_ROOT' }, fix));
  }
  return problems;
}

/** The inventory's addresses were checked before connecting; a host may have more networks than that one. */
function bridgeProblems(host: HostSpec, facts: HostFacts): KubestrapError[] {
  const value = host.values.DOCKER_BIP!;
  const bridge = parseCidr(value);
  // docker0 itself holds the bridge's own address once Docker runs.
  const own = value.split('/')[0];
  const inside = bridge ? facts.addresses.find((a) => a !== own && !a.startsWith('127.') && cidrContains(bridge, a)) : undefined;
  if (!inside) return [];
  return [
    new HostError(
      host.name,
      `Docker's bridge ${value} overlaps this host's address ${inside}`,
      { resource: 'DOCKER_BIP' },
      "pick a bridge range that overlaps none of the host's networks, e.g. 192.168.254.1/24",
    ),
  ];
}
