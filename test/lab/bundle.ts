import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MANIFEST_FILE, ManifestSchema, type ArtifactEntryInput, type Manifest } from '../../src/artifacts/manifest.js';
import {
  containerdSupports,
  DEFAULT_HEALTH_CHECK_IMAGE,
  DEFAULT_IMAGE_REGISTRY,
  nodeImages,
  DEFAULT_VERSIONS,
  mustParseVersion,
  REMOVED_FLAGS,
  type Arch,
  type Project,
  type RemovedFlag,
} from '../../src/upstream/index.js';
import { GENERATION_DEBS, KUBECTL, type DebBinaries } from './bundle-debs.js';
import { cachedDir, shortHash } from './cache.js';
import { DEFAULT_GENERATION, type Generation } from './generations.js';
import { writeLocalImage } from './images.js';
import { labKubeVersion, type LabKubeVersion } from './lab-kube-version.js';
import { ensureLabRepos, type LabRepos } from './lab-repos.js';
import { STANDINS_DIR } from './paths.js';
import { debsOf } from './repo.js';
import { sh } from './run.js';

/**
 * An offline bundle in the product's format (see src/artifacts/bundle.ts) for the lab, which cannot
 * download anything. Real where Debian packages it: etcd, etcdctl and etcdutl, containerd, runc,
 * Docker, the CNI reference plugins and kubectl (1.36), from the lab's apt repos as bundle-debs.ts says
 * per generation (current: Debian unstable's builds; previous: Debian 12's etcd, containerd and
 * Docker). Stand-ins where it does not: the other Kubernetes components and flanneld are the python
 * stand-ins from test/standins, each baked into one self-contained file (the flannel CNI plugin too); the pause, CoreDNS and pod-check images are archives made here from busybox-static.
 * `createdFor` names every project's version, so a test's config can match the bundle; the
 * bundle's lab-bundle.json says what each real binary is (package, Debian version, repo).
 */
export interface LabBundleOptions {
  generation?: Generation;
  /**
   * The Kubernetes version the stand-ins play and the images are made for (part of the cache key),
   * e.g. two minors in a row for an upgrade; default labKubeVersion's. kubectl stays Debian's.
   */
  kubeVersion?: string;
  /**
   * Projects whose real binaries come from other packages than the bundle's generation's (part of
   * the cache key): another generation's, e.g. the previous generation with the current etcd, where
   * Debian 12's etcd 3.4.23 is older than any supported Kubernetes minor runs on (3.4.29,
   * src/upstream/etcd.ts); or packages named here, e.g. bundle-debs.ts's TRIXIE_ETCD (3.5.16), an
   * etcd older than the current generation's for an upgrade.
   */
  projectsFrom?: Partial<Record<Project, Generation | readonly DebBinaries[]>>;
  log?: (msg: string) => void;
}

/** The Kubernetes components the stand-ins can play (the python kubectl only in tests of the API server stand-in). */
export const KUBE_COMPONENTS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;

/**
 * The Kubernetes components the bundle holds as stand-ins: all but kubectl, which is the real one
 * (Debian's), run by the product's cluster checks and actions against the API server stand-in.
 */
const STANDIN_COMPONENTS = KUBE_COMPONENTS.filter((c) => c !== 'kubectl');

export const LAB_BUNDLE_FILE = 'lab-bundle.json';

/** What lab-bundle.json records. */
export interface LabBundleRecord {
  generation: Generation;
  /** Every project's version, as createdFor has it. */
  versions: Partial<Record<Project, string>>;
  /** Whether upstream supports the bundle's containerd under its Kubernetes version (Debian 12's is supported under none). */
  containerdSupported: boolean;
  /** Per real binary: the package it came from, its Debian version and the lab repo that has it. */
  binaries: Record<string, { pkg: string; debVersion: string; repo: string }>;
  standIns: string[];
}

const STANDIN_SOURCE = path.join(STANDINS_DIR, 'standin.py');
/** Changing what the bundle holds changes this, and with it the cache key. */
const RECIPE_VERSION = 8;

/** Debian version `3.4.23-4+b6` (maybe with an epoch) -> upstream `v3.4.23`. */
export function upstreamVersion(debVersion: string): string {
  const m = /^(?:\d+:)?(\d+\.\d+\.\d+)/.exec(debVersion.trim());
  if (!m) throw new Error(`cannot read an upstream version from Debian version '${debVersion}'`);
  return `v${m[1]}`;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function arch(): Arch {
  if (os.arch() === 'x64') return 'amd64';
  if (os.arch() === 'arm64') return 'arm64';
  throw new Error(`the lab bundle supports amd64 and arm64 machines, not ${os.arch()}`);
}

/** A package of the plan: its .deb and Debian version. */
interface PlannedDeb extends DebBinaries {
  deb: string;
  debVersion: string;
}

/** What a bundle of a generation will hold, known before it is built (its cache key). */
interface BundlePlan {
  generation: Generation;
  projects: Partial<Record<Project, PlannedDeb[]>>;
  kubectl: PlannedDeb;
  kube: LabKubeVersion;
}

async function planDeb(repos: LabRepos, source: DebBinaries): Promise<PlannedDeb> {
  const dir = repos[source.repo];
  const deb = debsOf(dir, source.pkg).pop();
  if (!deb) throw new Error(`the lab's ${source.repo} repo ${dir} has no ${source.pkg} package; delete it to rebuild`);
  return { ...source, deb, debVersion: (await sh`dpkg-deb -f ${deb} Version`).stdout.trim() };
}

async function planBundle(repos: LabRepos, generation: Generation, opts: LabBundleOptions): Promise<BundlePlan> {
  const projects: BundlePlan['projects'] = {};
  for (const project of Object.keys(GENERATION_DEBS[generation]) as Project[]) {
    const from = opts.projectsFrom?.[project] ?? generation;
    const sources = typeof from === 'string' ? (GENERATION_DEBS[from][project] ?? []) : from;
    projects[project] = await Promise.all(sources.map((s) => planDeb(repos, s)));
  }
  const kubectl = await planDeb(repos, KUBECTL);
  const containerd = projects.containerd?.[0];
  if (!containerd) throw new Error(`bundle-debs.ts gives the ${generation} generation no containerd`);
  const containerdVersion = mustParseVersion(upstreamVersion(containerd.debVersion));
  const kubeVersion = opts.kubeVersion;
  const kube = kubeVersion
    ? { tag: mustParseVersion(kubeVersion).tag, containerdSupported: containerdSupports(mustParseVersion(kubeVersion), containerdVersion) }
    : labKubeVersion(mustParseVersion(upstreamVersion(kubectl.debVersion)), containerdVersion);
  return { generation, projects, kubectl, kube };
}

/** Unpacks the .deb and copies its listed binaries into `bin`; a file the package lacks is an error. */
async function copyFromDeb(planned: PlannedDeb, bin: string): Promise<string[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-deb-'));
  try {
    await sh`dpkg-deb -x ${planned.deb} ${tmp}`;
    return Object.entries(planned.files).map(([name, inPackage]) => {
      const src = path.join(tmp, inPackage);
      if (!fs.existsSync(src)) throw new Error(`${path.basename(planned.deb)} has no ${inPackage} (for the bundle's ${name}); see test/lab/bundle-debs.ts`);
      fs.copyFileSync(src, path.join(bin, name));
      fs.chmodSync(path.join(bin, name), 0o755);
      return name;
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Per component, each flag without its dashes and `[minor, why]`: the stand-in's REMOVED and DEPRECATED tables. */
type StandinFlagTable = Record<string, Record<string, [number, string]>>;

/** The minor of a Kubernetes `1.N`: the stand-ins compare minors only. */
function kubeMinor(majorMinor: string): number {
  const m = /^1\.(\d+)$/.exec(majorMinor);
  if (!m) throw new Error(`src/upstream/kube-flags.ts has a version the stand-ins cannot compare: ${majorMinor}`);
  return Number(m[1]);
}

/**
 * The stand-ins' tables of flags, from src/upstream/kube-flags.ts: what each component refuses
 * (`removed`) or warns about (`deprecated`), each from the earliest minor the table gives it.
 */
export function standinFlagTables(): Record<'removed' | 'deprecated', StandinFlagTable> {
  const table = (status: RemovedFlag['status']): StandinFlagTable =>
    Object.fromEntries(
      Object.entries(REMOVED_FLAGS).map(([component, flags]) => {
        const entries: Record<string, [number, string]> = {};
        for (const f of flags.filter((x) => x.status === status)) {
          const name = f.flag.replace(/^--/, '');
          const minor = kubeMinor(f.removedIn);
          if (!entries[name] || minor < entries[name][0]) entries[name] = [minor, f.instead];
        }
        return [component, entries];
      }),
    );
  return { removed: table('removed'), deprecated: table('deprecated') };
}

/** Replaces the one line of `source` that `line` matches, or fails: a stand-in built without its settings would pass for a real one. */
function bake(source: string, line: RegExp, replacement: string): string {
  if (!line.test(source)) throw new Error(`${STANDIN_SOURCE} has no line matching ${line}: the lab bundle cannot bake it`);
  return source.replace(line, `${replacement}  # baked in by test/lab/bundle.ts`);
}

/** The stand-in for one component, with its name, versions and flag tables baked in (no symlink, no sibling file needed). */
export function bakedStandin(component: string, kubeVersion: string, flannelVersion: string): string {
  const flags = standinFlagTables();
  let source = fs.readFileSync(STANDIN_SOURCE, 'utf8');
  source = bake(source, /^COMPONENT = None\b.*$/m, `COMPONENT = ${JSON.stringify(component)}`);
  source = bake(source, /^VERSION = ".*$/m, `VERSION = ${JSON.stringify(kubeVersion)}`);
  source = bake(source, /^FLANNEL_VERSION = ".*$/m, `FLANNEL_VERSION = ${JSON.stringify(flannelVersion)}`);
  // JSON of string keys, numbers and strings is a Python literal as it is.
  source = bake(source, /^REMOVED = \{\}.*$/m, `REMOVED = ${JSON.stringify(flags.removed)}`);
  return bake(source, /^DEPRECATED = \{\}.*$/m, `DEPRECATED = ${JSON.stringify(flags.deprecated)}`);
}

function writeStandin(file: string, component: string, kubeVersion: string, flannelVersion: string): void {
  fs.writeFileSync(file, bakedStandin(component, kubeVersion, flannelVersion), { mode: 0o755 });
}

/** Builds the bundle a plan describes into `dir`, which must be empty or absent. */
async function buildBundle(dir: string, plan: BundlePlan, repos: LabRepos): Promise<LabBundleRecord> {
  const a = arch();
  const bin = path.join(dir, a, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(path.join(dir, a, 'images'), { recursive: true });
  const flannelVersion = DEFAULT_VERSIONS.flannel;
  const artifacts: ArtifactEntryInput[] = [];
  const kubeVersion = plan.kube.tag;
  const record: LabBundleRecord = { generation: plan.generation, versions: {}, containerdSupported: plan.kube.containerdSupported, binaries: {}, standIns: [] };
  const add = (project: Project, version: string, names: readonly string[]) => {
    record.versions[project] = version;
    for (const name of names) {
      const file = path.join(bin, name);
      artifacts.push({ component: name, version, arch: a, kind: 'binary', file: `${a}/bin/${name}`, sha256: sha256(file), size: fs.statSync(file).size });
    }
  };
  const real = async (planned: PlannedDeb[]): Promise<string[]> => {
    const names: string[] = [];
    for (const p of planned) {
      for (const name of await copyFromDeb(p, bin)) record.binaries[name] = { pkg: p.pkg, debVersion: p.debVersion, repo: p.repo };
      names.push(...Object.keys(p.files));
    }
    return names;
  };
  const standIns = (names: readonly string[]) => record.standIns.push(...names);

  for (const [project, planned] of Object.entries(plan.projects) as Array<[Project, PlannedDeb[]]>) add(project, upstreamVersion(planned[0]!.debVersion), await real(planned));
  for (const c of STANDIN_COMPONENTS) writeStandin(path.join(bin, c), c, kubeVersion, flannelVersion);
  standIns(STANDIN_COMPONENTS);
  add('kubernetes', kubeVersion, [...STANDIN_COMPONENTS, ...(await real([plan.kubectl]))]);
  // flannel's version does not move with Kubernetes', so neither may its stand-ins' bytes: a cluster's
  // artifact lock pins the bytes of flanneld v0.28.9, and bundles of two Kubernetes versions (an
  // upgrade) must agree on them. They play their Kubernetes client at the product's default.
  const flannelKube = DEFAULT_VERSIONS.kubernetes;
  writeStandin(path.join(bin, 'flanneld'), 'flanneld', flannelKube, flannelVersion);
  standIns(['flanneld']);
  add('flannel', flannelVersion, ['flanneld']);
  // standin.py's flannel role is upstream's meta-plugin: it reads flanneld's subnet file and runs the real bridge plugin.
  writeStandin(path.join(bin, 'flannel'), 'flannel', flannelKube, flannelVersion);
  standIns(['flannel']);
  add('flannel-cni-plugin', DEFAULT_VERSIONS['flannel-cni-plugin'], ['flannel']);
  artifacts.push(...(await writeImages(dir, kubeVersion, repos, a)));

  const manifest: Manifest = ManifestSchema.parse({ createdFor: record.versions, artifacts });
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, LAB_BUNDLE_FILE), JSON.stringify(record, null, 2) + '\n');
  return record;
}

/**
 * The pause and CoreDNS images of the Kubernetes version and the pod check's (HEALTH_CHECK_IMAGE's
 * default), made from Debian 12's busybox-static; the pod check gives its pods their command.
 */
async function writeImages(dir: string, kubeVersion: string, repos: LabRepos, a: Arch): Promise<ArtifactEntryInput[]> {
  const busyboxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-busybox-'));
  try {
    const planned = await planDeb(repos, { repo: 'debian12', pkg: 'busybox-static', files: {} });
    await sh`dpkg-deb -x ${planned.deb} ${busyboxDir}`;
    const busybox = fs.readFileSync(path.join(busyboxDir, 'bin/busybox'));
    const entries: ArtifactEntryInput[] = [];
    for (const image of nodeImages(mustParseVersion(kubeVersion), DEFAULT_IMAGE_REGISTRY, DEFAULT_HEALTH_CHECK_IMAGE)) {
      const file = `${a}/images/${image.name}-${image.tag}.tar`;
      await writeLocalImage(path.join(dir, file), { ref: image.ref, entrypoint: `/${image.name}` }, busybox, a);
      entries.push({ component: image.name, version: image.tag, arch: a, kind: 'image', image: image.ref, file, sha256: sha256(path.join(dir, file)), size: fs.statSync(path.join(dir, file)).size });
    }
    return entries;
  } finally {
    fs.rmSync(busyboxDir, { recursive: true, force: true });
  }
}

/** One line for logs: the generation and every project's version, with what is real and what stands in. */
export function describeBundle(record: LabBundleRecord): string {
  const projects = Object.entries(record.versions).map(([project, version]) => `${project} ${version}`);
  const debs = [...new Set(Object.values(record.binaries).map((b) => `${b.pkg} ${b.debVersion} (${b.repo})`))];
  const kube = record.versions.kubernetes ?? '?';
  const unsupported = record.containerdSupported
    ? ''
    : ` (upstream does not support this containerd under Kubernetes ${kube}: the product refuses it as a host's runtime unless CONTAINERD_ALLOW_UNSUPPORTED=true)`;
  return `${record.generation} generation: ${projects.join(', ')}${unsupported}; real: ${debs.join(', ')}; stand-ins: ${record.standIns.join(', ')}`;
}

/** What a built bundle records about itself. */
export function labBundleRecord(dir: string): LabBundleRecord {
  return JSON.parse(fs.readFileSync(path.join(dir, LAB_BUNDLE_FILE), 'utf8')) as LabBundleRecord;
}

/**
 * The lab bundle of a generation (default current), built once per machine next to the rootfs and
 * repo caches and kept until what it would hold changes: a package in the lab's repos, the
 * stand-ins' source or flag tables, the default versions, or the recipe. Only the generations a run
 * asks for are built: the e2e suite's global setup asks for the current one.
 */
export async function labBundle(opts: LabBundleOptions = {}): Promise<string> {
  const log = opts.log ?? ((m: string) => void process.stderr.write(`[lab] ${m}\n`));
  // Before taking the cache lock: the repos' own builds take it too.
  const repos = await ensureLabRepos(log);
  const plan = await planBundle(repos, opts.generation ?? DEFAULT_GENERATION, opts);
  const key = shortHash({
    generation: plan.generation,
    debs: [...Object.values(plan.projects).flat(), plan.kubectl].map((p) => [p.repo, p.pkg, p.debVersion, p.files]),
    kube: plan.kube,
    defaults: DEFAULT_VERSIONS,
    standin: sha256(STANDIN_SOURCE),
    flags: standinFlagTables(),
    recipe: RECIPE_VERSION,
  });
  return cachedDir('bundle', key, async (dir) => {
    log(`building the lab bundle (${plan.generation} generation) in ${dir}`);
    log(`lab bundle: ${describeBundle(await buildBundle(dir, plan, repos))}`);
  });
}
