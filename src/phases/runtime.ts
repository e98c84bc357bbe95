import { posix } from 'node:path';
import type { RunArtifacts } from '../artifacts/provider.js';
import { runtimeBinaries } from '../components/binaries.js';
import { isOn } from '../components/catalog.js';
import { HOST_PATHS } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { parseCidr, cidrContains } from '../config/validators.js';
import { defineFact, readFact, type HostFacts } from '../engine/facts.js';
import type { RecordFields } from '../engine/host-record.js';
import type { CommandResource, Resource } from '../engine/resource.js';
import { BundleError, HostError, KubestrapError } from '../errors.js';
import type { OsAdapter } from '../os/adapter.js';
import { detectOs } from '../os/detect.js';
import { parseRuntimeFacts, runtimeFactSnippet, type RuntimeFacts } from '../runtime/facts.js';
import { imageResources, type ImageArchive } from '../runtime/images.js';
import { registryHostsFiles } from '../runtime/registry-hosts.js';
import type { RuntimeChoice, RuntimeDecision } from '../runtime/source.js';
import { runtimeUnits } from '../runtime/units.js';
import { containerdConfigVersion, containerdTakesCniBinDirs } from '../runtime/versions.js';
import type { Arch, ImageName, Version } from '../upstream/index.js';
import { codecFor } from './artifacts.js';
import { binaryFile } from './binary-file.js';
import { fileResource } from './file-resource.js';
import { configuredRelease, dockerRepo, runtimeDecision, runtimeFactInput, runtimeSetting, type StaticRelease } from './runtime-source.js';
import { runningService } from './services.js';
import { filesOf, type ClusterHost, type Phase, type PhaseContext } from './phase.js';

/** The runtime's release binaries given by the caller instead of the run's artifacts (the tests' own builds). */
export interface RuntimeBundle {
  /** Its containerd: the config format follows it before the host has any. */
  containerdVersion: Version;
  /**
   * Resources that put containerd, its shim, ctr, runc, docker, dockerd, docker-proxy and
   * docker-init for this host's architecture into HOST_PATHS.runtimeBinDir; a changed binary
   * restarts the service that runs it.
   */
  binaries(ctx: PhaseContext): Resource[];
}

/** What the runtime phase takes from outside the cluster's config. */
export interface RuntimeInputs {
  /** Images a host imports into containerd when they are missing (pause, CoreDNS). */
  images?(host: HostSpec): readonly ImageArchive[];
  /** The run's artifacts (offline bundle, cache, downloads): the release binaries for hosts that take them. */
  artifacts?: RunArtifacts;
  /** Release binaries of the caller's own, in place of the run's artifacts. */
  bundle?: RuntimeBundle;
}

export type CgroupDriver = 'systemd' | 'cgroupfs';

/** What a node imports from an offline bundle, where no registry serves it. */
const BUNDLED_IMAGES: readonly ImageName[] = ['pause', 'coredns', 'health-check'];

/** The hosts the component catalog gives the runtime (where the kubelet runs). */
const hasRuntime = (host: HostSpec) => isOn(host, 'containerd');

/**
 * containerd (the kubelet's CRI) and Docker (for the people on the node), from where each host's
 * CONTAINER_RUNTIME_SOURCE and its package managers say (runtime-source.ts): the distribution's
 * packages, Docker's repository (its key and source file, or .repo file, first) or the release
 * binaries with their units. The plan says which, and why, under the install. The configuration
 * is written before anything is installed, so the services start on it. containerd's config format
 * and the cgroup driver follow what the host is (facts), registries live in hosts.toml files that
 * need no restart, and images that no registry serves are imported only when containerd lacks them.
 */
export function createRuntimePhase(inputs: RuntimeInputs = {}): Phase {
  const release = (host: HostSpec): StaticRelease =>
    inputs.bundle ? { containerd: inputs.bundle.containerdVersion, label: 'given to this run' } : configuredRelease(host, inputs.artifacts?.options.bundleDir !== undefined);
  const decide = (host: HostSpec, facts: HostFacts) => decisionOf(host, facts, release(host));
  // An offline bundle's images (pause, CoreDNS, the pod check's) per architecture, read and checked in prepare.
  const bundled = new Map<Arch, ImageArchive[]>();
  const bundleImages = async (spec: ClusterSpec, arches: readonly Arch[]): Promise<KubestrapError[]> => {
    const provider = inputs.artifacts?.options.bundleDir !== undefined ? inputs.artifacts.provider(spec) : undefined;
    if (!provider || inputs.images) return [];
    const problems: KubestrapError[] = [];
    for (const arch of new Set(arches)) {
      const archives: ImageArchive[] = [];
      for (const name of BUNDLED_IMAGES) {
        try {
          const image = await provider.image(name, arch);
          if (image) archives.push({ ref: image.ref, archive: image.file });
        } catch (err) {
          // A bundle made before it carried the pod check's image: the check says the image is missing.
          if (name === 'health-check' && err instanceof BundleError) continue;
          if (err instanceof KubestrapError) problems.push(err);
          else throw err;
        }
      }
      bundled.set(arch, archives);
    }
    return problems;
  };
  const images = (ctx: PhaseContext): readonly ImageArchive[] => inputs.images?.(ctx.host) ?? bundled.get(ctx.os.arch) ?? [];
  return {
    name: 'runtime',
    title: 'container runtime (containerd, Docker)',
    appliesTo: hasRuntime,
    facts: (host) => (hasRuntime(host) ? [RUNTIME_FACT] : []),
    // Downloads for the architectures of the hosts it changes; its preflight looks at each host alone.
    limitReads: () => [],
    hostValues: (host, facts) => {
      const runtime = runtimeFactsOf(facts);
      const containerd = expectedContainerd(host, facts, release(host), decide);
      return {
        CGROUP_DRIVER: cgroupDriver(host, facts, runtime),
        CONTAINERD_CONFIG_VERSION: containerdConfigVersion(containerd),
        CONTAINERD_CNI_BIN_DIRS: String(containerdTakesCniBinDirs(containerd)),
        // Unknown until read: the upstream default; the plan of a host read shows the setting in the file's diff.
        CONTAINERD_RESTRICT_OOM_SCORE_ADJ: String(runtime?.oomScoreAdjRestricted ?? false),
      };
    },

    async prepare(ctx) {
      const imageProblems = await bundleImages(
        ctx.spec,
        ctx.hosts.filter((h) => hasRuntime(h.host)).map((h) => h.os.arch),
      );
      const wanted = inputs.bundle ? [] : ctx.hosts.filter((h) => hasRuntime(h.host) && choiceOf(decide(h.host, h.facts))?.source === 'static');
      if (wanted.length === 0) return imageProblems;
      if (!inputs.artifacts) return wanted.map((h) => noRelease(h.host));
      const provider = inputs.artifacts.provider(ctx.spec);
      const requests = wanted.flatMap((h) => runtimeBinaries().map((name) => ({ name, arch: h.os.arch, host: h.host, facts: h.facts })));
      const problems = [...imageProblems, ...(await provider.resolve(requests))];
      if (problems.length || ctx.mode === 'plan') return problems;
      await provider.encode(requests.map((r) => ({ binary: provider.binary(r.name, r.arch), codec: codecFor(r.host, r.facts) })));
      return [];
    },

    // Worked out before the preflight runs: a host without a source wants nothing, and the preflight refuses the run.
    resources: (ctx) => {
      const choice = choiceOf(decide(ctx.host, ctx.facts));
      return choice ? runtimeResources(ctx, choice, inputs, images(ctx)) : [];
    },
    // The containerd it installs: what an upgrade starts from next time (plan's upgrade steps).
    record: (ctx): RecordFields => {
      const containerd = expectedContainerd(ctx.host, ctx.facts, release(ctx.host), decide);
      return containerd ? { containerd: containerd.tag } : {};
    },
    preflight: (ctx) => ctx.hosts.filter((h) => hasRuntime(h.host)).flatMap((h) => runtimeProblems(h, decide)),
    beforeUpload: async (uploads) => {
      if (uploads.length) await inputs.artifacts?.prepared().checkSent(uploads);
    },
  };
}

/** The phase as it needs nothing from the run: template values, and runs whose hosts take packages. */
export const runtimePhase = createRuntimePhase();

/** What the runtime's snippet (for the host's own settings) says; undefined where it did not run. */
const RUNTIME_FACT = defineFact<RuntimeFacts | undefined, HostSpec>(
  'runtime',
  (host) => runtimeFactSnippet(runtimeFactInput(host)),
  (out) => (out === undefined ? undefined : parseRuntimeFacts(out)),
);

function runtimeFactsOf(facts: HostFacts | undefined): RuntimeFacts | undefined {
  return facts ? readFact(facts, RUNTIME_FACT) : undefined;
}

/** The containerd the host has installed (its `containerd --version`), as its facts read it. */
export function installedContainerd(facts: HostFacts): Version | undefined {
  return runtimeFactsOf(facts)?.containerd;
}

function adapterOf(host: HostSpec, facts: HostFacts): OsAdapter | undefined {
  try {
    return detectOs(host.name, facts).adapter;
  } catch {
    return undefined; // the engine refuses such a host itself, with the reason
  }
}

type Decide = (host: HostSpec, facts: HostFacts) => RuntimeDecision | undefined;

/** Where the host's runtime comes from; undefined where its facts were not read or its OS is not one kubestrap manages. */
function decisionOf(host: HostSpec, facts: HostFacts, release: StaticRelease): RuntimeDecision | undefined {
  const runtime = runtimeFactsOf(facts);
  const adapter = adapterOf(host, facts);
  return runtime && adapter ? runtimeDecision(host, facts, adapter, runtime, release) : undefined;
}

function choiceOf(decision: RuntimeDecision | undefined): RuntimeChoice | undefined {
  return decision && 'choice' in decision ? decision.choice : undefined;
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

/**
 * The containerd the host will run: the one its source gives (installed, on offer, or the release
 * binaries'); without facts, the release binaries' where the config asks for them, else unknown.
 */
function expectedContainerd(host: HostSpec, facts: HostFacts | undefined, release: StaticRelease, decide: Decide): Version | undefined {
  const choice = facts ? choiceOf(decide(host, facts)) : undefined;
  if (choice) return choice.source === 'static' ? release.containerd : (choice.containerd ?? runtimeFactsOf(facts)?.containerd);
  const setting = runtimeSetting(host);
  return setting === 'static' || setting === 'bundle' ? release.containerd : runtimeFactsOf(facts)?.containerd;
}

function runtimeResources(ctx: PhaseContext, choice: RuntimeChoice, inputs: RuntimeInputs, images: readonly ImageArchive[]): Resource[] {
  const { host, files } = ctx;
  const registries = registryHostsFiles(host.values.DOCKER_REGISTRY_MIRRORS ?? '', host.values.DOCKER_INSECURE_REGISTRIES ?? '');
  return [
    ...(choice.source === 'docker' ? repositoryResources(ctx) : []),
    // Before the packages: their services then start on this configuration, not the packaged one.
    ...filesOf('runtime', files).map(fileResource),
    // A registry dropped from the config loses its hosts.toml and then its folder: the engine removes what it recorded.
    ...registries.flatMap((r): Resource[] => [{ kind: 'directory', path: posix.dirname(r.path), mode: 0o755, owner: 'root', group: 'root' }, plain(r.path, r.content)]),
    ...installResources(ctx, choice, inputs),
    runningService(ctx.spec, host, 'containerd'),
    runningService(ctx.spec, host, 'docker'),
    ...images.flatMap((image) => imageResources(image)),
  ];
}

const plain = (path: string, content: string): Resource => ({ kind: 'file', path, content, mode: 0o644, owner: 'root', group: 'root', restarts: [] });

/** Docker's repository on this host: the key that signs it where the package manager does not fetch it (apt), then its file. */
function repositoryResources({ host, facts, os }: PhaseContext): Resource[] {
  const repo = dockerRepo(host, os.adapter, facts);
  const key = os.adapter.repoKey(repo);
  const file = os.adapter.repoFile(repo);
  const fetchKey: CommandResource[] = key
    ? [
        {
          kind: 'command',
          name: 'docker-repository-key',
          description: `fetch the key that signs Docker's repository from ${repo.gpgKey} into ${key.path}`,
          check: `[ -s ${key.path} ]`,
          run: key.fetch,
          failureHint: `check that the host reaches ${repo.gpgKey} (DOCKER_APT_GPGKEY), or point it at a mirror that serves the key`,
        },
      ]
    : [];
  return [...fetchKey, plain(file.path, file.content)];
}

/** The packages of the chosen source, or the release binaries with their units; the plan shows why under the install. */
function installResources(ctx: PhaseContext, choice: RuntimeChoice, inputs: RuntimeInputs): Resource[] {
  const why = [choice.why];
  if (choice.source !== 'static') return [{ kind: 'package', names: choice.packages, why }, ...(choice.source === 'distro' ? dockerCommand(ctx.os.adapter) : [])];
  const units = runtimeUnits().map((u) => plain(u.path, u.content));
  if (inputs.bundle) return [...inputs.bundle.binaries(ctx), ...units];
  const provider = inputs.artifacts!.prepared();
  const codec = codecFor(ctx.host, ctx.facts);
  const binaries = runtimeBinaries().map((name) => binaryFile(provider, name, ctx.os.arch, codec, `${HOST_PATHS.runtimeBinDir}/${name}`, name === 'containerd' ? { why } : {}));
  return [...binaries, ...units];
}

/**
 * The docker command where the Docker packages leave it out: Debian 13's docker.io and later only
 * recommend docker-cli, and kubestrap installs without recommends; Debian 12's docker.io and
 * Docker's docker-ce-cli bring it. A fresh host's package lists cannot tell which archive it has
 * (it never ran apt-get update), so this runs after the packages, and installs only when the
 * command is still missing then.
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

function noRelease(host: HostSpec): KubestrapError {
  return new HostError(
    host.name,
    'takes the release binaries of containerd, runc and Docker, and this run has no artifacts to take them from',
    { resource: 'CONTAINER_RUNTIME_SOURCE' },
    'run it through bootstrap plan or apply (with --bundle for an offline bundle)',
  );
}

/** Everything about a host that would make the runtime fail, found before anything changes anywhere. */
function runtimeProblems({ host, facts, os }: ClusterHost, decide: Decide): KubestrapError[] {
  const runtime = runtimeFactsOf(facts);
  if (!runtime) return [];
  const decision = decide(host, facts);
  const source =
    decision && 'refused' in decision
      ? [new HostError(host.name, decision.refused.message, { resource: decision.refused.key }, decision.refused.hint)]
      : baseRepoProblems(host, facts, os.adapter, runtime, choiceOf(decision));
  return [...source, ...dataRootProblems(host, runtime), ...bridgeProblems(host, facts)];
}

/**
 * docker-ce on EL needs container-selinux from the release's own repositories (extras): where the
 * host cannot read them, the install would fail halfway. CentOS 7 is the case in point: past its
 * end of life its mirrorlist is gone and its trees live only on vault mirrors.
 */
function baseRepoProblems(host: HostSpec, facts: HostFacts, adapter: OsAdapter, runtime: RuntimeFacts, choice: RuntimeChoice | undefined): KubestrapError[] {
  const failure = runtime.baseRepos?.failure;
  if (adapter.family !== 'el' || choice?.source !== 'docker' || !failure) return [];
  const last = failure.output.split('\n').at(-1);
  const said = `cannot read its own package repositories, where docker-ce's container-selinux comes from (exit ${failure.exitCode}${last ? `: ${last}` : ''})`;
  const mirror = host.values.EL_BASE_REPO;
  const eol = facts.os.versionId.split('.')[0] === '7';
  if (eol) {
    return [
      new HostError(
        host.name,
        `${said}: ${mirror ? `EL_BASE_REPO ${mirror} does not answer as a CentOS 7 tree (os/, updates/, extras/)` : 'CentOS 7 is past its end of life (30 June 2024): mirrorlist.centos.org is gone, and base, updates and extras live only on vault mirrors'}`,
        { resource: 'EL_BASE_REPO' },
        'set EL_BASE_REPO to a vault or local mirror of CentOS 7, e.g. https://vault.centos.org/7.9.2009 (kubestrap writes CentOS-Base.repo for it), or CONTAINER_RUNTIME_SOURCE=static for the release binaries',
      ),
    ];
  }
  return [
    new HostError(
      host.name,
      said,
      {},
      "make the release's repositories reachable from the host (or point its .repo files at a local mirror), or set CONTAINER_RUNTIME_SOURCE=static for the release binaries",
    ),
  ];
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
