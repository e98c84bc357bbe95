import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MANIFEST_FILE, ManifestSchema, type ArtifactEntryInput, type Manifest } from '../../src/artifacts/manifest.js';
import { clusterImages, DEFAULT_IMAGE_REGISTRY, DEFAULT_VERSIONS, parseVersion, REMOVED_FLAGS, type Arch, type Project, type RemovedFlag } from '../../src/upstream/index.js';
import { cachedDir, shortHash } from './cache.js';
import { writeLocalImage } from './images.js';
import { STANDINS_DIR } from './paths.js';
import { ensurePrereqs } from './prereqs.js';
import { debsOf, ensureRepo, repoHash } from './repo.js';
import { ensureRootfs } from './rootfs.js';
import { sh } from './run.js';

/**
 * An offline bundle in the product's format (see src/artifacts/bundle.ts) for the lab, which cannot
 * download anything: etcd, etcdctl and the container runtime's binaries are the real ones from
 * Debian's packages in the lab repo; the Kubernetes components and flanneld are the python
 * stand-ins from test/standins, each baked into one self-contained file; the CNI plugins are small
 * stand-in scripts; the pause and CoreDNS images are archives made here from busybox-static.
 * `createdFor` records the version of every project, so a test's config can match the bundle.
 */
export interface BundleOptions {
  kubeVersion?: string;
  flannelVersion?: string;
  log?: (msg: string) => void;
}

export const KUBE_COMPONENTS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'] as const;

const STANDIN_SOURCE = path.join(STANDINS_DIR, 'standin.py');
/** Changing what the bundle holds changes this, and with it the cache key. */
const RECIPE_VERSION = 2;

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

/** The versions the lab bundle holds for each project (the debs' versions where it holds real binaries). */
interface Held {
  versions: Partial<Record<Project, string>>;
  artifacts: ArtifactEntryInput[];
}

/** Unpacks `pkg`'s .deb and copies the named binaries (paths inside the package) into `dir`; returns the upstream version. */
async function fromDeb(repoDir: string, pkg: string, binaries: Record<string, string>, dir: string): Promise<{ version: string; copied: string[] }> {
  const deb = debsOf(repoDir, pkg).pop();
  if (!deb) throw new Error(`the lab repo ${repoDir} has no ${pkg} package; delete it to rebuild`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-deb-'));
  try {
    await sh`dpkg-deb -x ${deb} ${tmp}`;
    const copied: string[] = [];
    for (const [name, inPackage] of Object.entries(binaries)) {
      const src = path.join(tmp, inPackage);
      if (!fs.existsSync(src)) continue;
      fs.copyFileSync(src, path.join(dir, name));
      fs.chmodSync(path.join(dir, name), 0o755);
      copied.push(name);
    }
    return { version: upstreamVersion((await sh`dpkg-deb -f ${deb} Version`).stdout), copied };
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

function writeCniStandin(file: string, plugin: string): void {
  fs.writeFileSync(
    file,
    `#!/bin/sh\n# kubestrap lab stand-in for the ${plugin} CNI plugin: NOT a CNI plugin.\necho '{"code":100,"msg":"${plugin}: kubestrap lab stand-in, not a CNI plugin"}'\nexit 1\n`,
    { mode: 0o755 },
  );
}

/** Writes the bundle (binaries, images, manifest.json) into `dir`, which must be empty or absent. */
export async function buildBundle(dir: string, opts: BundleOptions = {}): Promise<Manifest> {
  const kubeVersion = opts.kubeVersion ?? LAB_KUBE_VERSION;
  const flannelVersion = opts.flannelVersion ?? DEFAULT_VERSIONS.flannel;
  const log = opts.log ?? ((m: string) => void process.stderr.write(`[lab] ${m}\n`));
  await ensurePrereqs();
  const repoDir = await ensureRepo(await ensureRootfs(log), log);
  const a = arch();
  const bin = path.join(dir, a, 'bin');
  const images = path.join(dir, a, 'images');
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(images, { recursive: true });
  const held: Held = { versions: {}, artifacts: [] };
  const add = (project: Project, version: string, names: readonly string[]) => {
    held.versions[project] = version;
    for (const name of names)
      held.artifacts.push({ component: name, version, arch: a, kind: 'binary', file: `${a}/bin/${name}`, sha256: sha256(path.join(bin, name)), size: fs.statSync(path.join(bin, name)).size });
  };

  const etcdServer = await fromDeb(repoDir, 'etcd-server', { etcd: 'usr/bin/etcd' }, bin);
  const etcdClient = await fromDeb(repoDir, 'etcd-client', { etcdctl: 'usr/bin/etcdctl' }, bin);
  add('etcd', etcdServer.version, [...etcdServer.copied, ...etcdClient.copied]);
  for (const c of KUBE_COMPONENTS) writeStandin(path.join(bin, c), c, kubeVersion, flannelVersion);
  add('kubernetes', kubeVersion, KUBE_COMPONENTS);
  writeStandin(path.join(bin, 'flanneld'), 'flanneld', kubeVersion, flannelVersion);
  add('flannel', flannelVersion, ['flanneld']);
  for (const p of CNI_PLUGINS) writeCniStandin(path.join(bin, p), p);
  add('cni-plugins', DEFAULT_VERSIONS['cni-plugins'], CNI_PLUGINS);
  writeCniStandin(path.join(bin, 'flannel'), 'flannel');
  add('flannel-cni-plugin', DEFAULT_VERSIONS['flannel-cni-plugin'], ['flannel']);
  const containerd = await fromDeb(repoDir, 'containerd', { containerd: 'usr/bin/containerd', 'containerd-shim-runc-v2': 'usr/bin/containerd-shim-runc-v2', ctr: 'usr/bin/ctr' }, bin);
  add('containerd', containerd.version, containerd.copied);
  const runc = await fromDeb(repoDir, 'runc', { runc: 'usr/sbin/runc' }, bin);
  add('runc', runc.version, runc.copied);
  const docker = await fromDeb(repoDir, 'docker.io', { docker: 'usr/bin/docker', dockerd: 'usr/sbin/dockerd', 'docker-proxy': 'usr/sbin/docker-proxy', 'docker-init': 'usr/sbin/docker-init' }, bin);
  add('docker', docker.version, docker.copied);

  const busyboxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-busybox-'));
  try {
    await fromDeb(repoDir, 'busybox-static', { busybox: 'bin/busybox' }, busyboxDir);
    const busybox = fs.readFileSync(path.join(busyboxDir, 'busybox'));
    for (const image of clusterImages(parseVersion(kubeVersion)!, DEFAULT_IMAGE_REGISTRY)) {
      const file = `${a}/images/${image.name}-${image.tag}.tar`;
      await writeLocalImage(path.join(dir, file), { ref: image.ref, entrypoint: image.name === 'pause' ? '/pause' : '/coredns' }, busybox, a);
      held.artifacts.push({
        component: image.name,
        version: image.tag,
        arch: a,
        kind: 'image',
        image: image.ref,
        file,
        sha256: sha256(path.join(dir, file)),
        size: fs.statSync(path.join(dir, file)).size,
      });
    }
  } finally {
    fs.rmSync(busyboxDir, { recursive: true, force: true });
  }

  const manifest = ManifestSchema.parse({ createdFor: held.versions, artifacts: held.artifacts });
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * The Kubernetes version the lab's bundle holds by default: the newest minor whose kubelet still
 * takes the lab's containerd (Debian 12's 1.6), a version whose CHANGELOG checksums are pinned.
 */
export const LAB_KUBE_VERSION = 'v1.35.0';

/** The bundle for these options, built once per machine next to the rootfs and repo caches. */
export async function cachedBundle(opts: BundleOptions = {}): Promise<string> {
  const key = shortHash({
    kube: opts.kubeVersion ?? LAB_KUBE_VERSION,
    flannel: opts.flannelVersion ?? DEFAULT_VERSIONS.flannel,
    defaults: DEFAULT_VERSIONS,
    standin: sha256(STANDIN_SOURCE),
    flags: standinFlagTables(),
    repo: repoHash(),
    recipe: RECIPE_VERSION,
  });
  // Before taking the cache lock: buildBundle's own ensureRepo would otherwise wait on it forever.
  await ensurePrereqs();
  await ensureRepo(await ensureRootfs(opts.log ?? ((m: string) => void process.stderr.write(`[lab] ${m}\n`))), opts.log ?? (() => undefined));
  return cachedDir('bundle', key, async (dir) => {
    await buildBundle(dir, opts);
  });
}
