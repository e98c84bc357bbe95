import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MANIFEST_FILE, ManifestSchema, type ArtifactEntry, type Manifest } from '../../src/artifacts/manifest.js';
import { cachedDir, shortHash } from './cache.js';
import { STANDINS_DIR } from './paths.js';
import { ensurePrereqs } from './prereqs.js';
import { debsOf, ensureRepo, repoHash } from './repo.js';
import { ensureRootfs } from './rootfs.js';
import { sh } from './run.js';

/**
 * An offline bundle in the product's format for the lab: etcd and etcdctl are the real binaries
 * from Debian's packages in the lab repo; the Kubernetes components and flanneld (not downloadable
 * here) are the python stand-ins from test/standins, each baked into one self-contained file.
 */
export interface BundleOptions {
  kubeVersion?: string;
  flannelVersion?: string;
  log?: (msg: string) => void;
}

export const KUBE_COMPONENTS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;

const STANDIN_SOURCE = path.join(STANDINS_DIR, 'standin.py');

/** Debian version `3.4.23-4+b6` (maybe with an epoch) -> upstream `v3.4.23`. */
export function upstreamVersion(debVersion: string): string {
  const m = /^(?:\d+:)?(\d+\.\d+\.\d+)/.exec(debVersion.trim());
  if (!m) throw new Error(`cannot read an upstream version from Debian version '${debVersion}'`);
  return `v${m[1]}`;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function arch(): ArtifactEntry['arch'] {
  if (os.arch() === 'x64') return 'amd64';
  if (os.arch() === 'arm64') return 'arm64';
  throw new Error(`the lab bundle supports amd64 and arm64 machines, not ${os.arch()}`);
}

/** Extracts `usr/bin/<binary>` from the repo's .deb of `pkg` into `dir`; returns its upstream version. */
async function extractDebBinary(repoDir: string, pkg: string, binary: string, dir: string): Promise<string> {
  const deb = debsOf(repoDir, pkg).pop();
  if (!deb) throw new Error(`the lab repo ${repoDir} has no ${pkg} package; delete it to rebuild`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-deb-'));
  try {
    await sh`dpkg-deb -x ${deb} ${tmp}`;
    fs.copyFileSync(path.join(tmp, 'usr/bin', binary), path.join(dir, binary));
    fs.chmodSync(path.join(dir, binary), 0o755);
    return upstreamVersion((await sh`dpkg-deb -f ${deb} Version`).stdout);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** One stand-in file per component, with its name and version baked in (no symlink, no sibling file needed). */
function writeStandin(dir: string, component: string, kubeVersion: string, flannelVersion: string): string {
  const file = `standin-${component}`;
  const source = fs
    .readFileSync(STANDIN_SOURCE, 'utf8')
    .replace(/^COMPONENT = None\b.*$/m, `COMPONENT = ${JSON.stringify(component)}  # baked in by test/lab/bundle.ts`)
    .replace(/^VERSION = ".*$/m, `VERSION = ${JSON.stringify(kubeVersion)}  # baked in by test/lab/bundle.ts`)
    .replace(/^FLANNEL_VERSION = ".*$/m, `FLANNEL_VERSION = ${JSON.stringify(flannelVersion)}  # baked in by test/lab/bundle.ts`);
  fs.writeFileSync(path.join(dir, file), source, { mode: 0o755 });
  return file;
}

/** Writes the bundle (binaries + manifest.json) into `dir`, which must be empty or absent. */
export async function buildBundle(dir: string, opts: BundleOptions = {}): Promise<Manifest> {
  const kubeVersion = opts.kubeVersion ?? 'v1.33.1';
  const flannelVersion = opts.flannelVersion ?? 'v0.26.7';
  const log = opts.log ?? ((m: string) => void process.stderr.write(`[lab] ${m}\n`));
  await ensurePrereqs();
  const repoDir = await ensureRepo(await ensureRootfs(log), log);
  fs.mkdirSync(dir, { recursive: true });
  const a = arch();
  const entry = (component: string, version: string, file: string): ArtifactEntry => ({
    component, version, arch: a, kind: 'binary', file, sha256: sha256(path.join(dir, file)),
  });
  const artifacts: ArtifactEntry[] = [
    entry('etcd', await extractDebBinary(repoDir, 'etcd-server', 'etcd', dir), 'etcd'),
    entry('etcdctl', await extractDebBinary(repoDir, 'etcd-client', 'etcdctl', dir), 'etcdctl'),
    ...KUBE_COMPONENTS.map((c) => entry(c, kubeVersion, writeStandin(dir, c, kubeVersion, flannelVersion))),
    entry('flanneld', flannelVersion, writeStandin(dir, 'flanneld', kubeVersion, flannelVersion)),
  ];
  const manifest = ManifestSchema.parse({ artifacts });
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** The bundle for these options, built once per machine next to the rootfs and repo caches. */
export async function cachedBundle(opts: BundleOptions = {}): Promise<string> {
  const key = shortHash({
    kube: opts.kubeVersion ?? 'v1.33.1',
    flannel: opts.flannelVersion ?? 'v0.26.7',
    standin: sha256(STANDIN_SOURCE),
    repo: repoHash(),
  });
  // Before taking the cache lock: buildBundle's own ensureRepo would otherwise wait on it forever.
  await ensurePrereqs();
  await ensureRepo(await ensureRootfs(opts.log ?? ((m: string) => void process.stderr.write(`[lab] ${m}\n`))), opts.log ?? (() => undefined));
  return cachedDir('bundle', key, async (dir) => {
    await buildBundle(dir, opts);
  });
}
