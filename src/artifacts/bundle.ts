import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ClusterConfig } from '../config/cluster-config.js';
import { BundleError, type Warning } from '../errors.js';
import { ensureRealDir, writeFresh, type Refusal } from '../fresh-file.js';
import { binariesForRoles, runtimeBinaries } from '../components/binaries.js';
import { downloadBases, nodeImages, type Arch, type BinaryName, type ImageName } from '../upstream/index.js';
import { ArtifactCache, userCacheDir } from './cache.js';
import { hashFile } from './hash-file.js';
import { ArtifactLock } from './lock.js';
import { entryKey, entryPath, MANIFEST_FILE, ManifestSchema, type ArtifactEntry, type LoadedManifest, type Manifest } from './manifest.js';
import { pullImage } from './oci.js';
import { resolveBinaries, resolvedKey, type DownloadProgress } from './resolve.js';

/**
 * Offline bundles, as kubeasz's `ezdown` makes them: a folder with every binary a config needs
 * (Kubernetes, etcd, flannel, CNI plugins, and the container runtime's static binaries), the pause
 * CoreDNS and pod-check images as archives the runtime imports, and manifest.json with each file's sha256.
 * `--bundle DIR` then takes everything from there and never touches the network.
 *
 *   DIR/manifest.json
 *   DIR/<arch>/bin/<binary>
 *   DIR/<arch>/images/<name>-<tag>.tar
 */
export interface BundleRequest {
  config: ClusterConfig;
  arches: readonly Arch[];
  out: string;
  cacheDir?: string;
  progress?: DownloadProgress;
  warn?: (warning: Warning) => void;
}

/** Every binary any host of a cluster with this config can need, and the runtime's. */
export function bundleBinaries(config: ClusterConfig): BinaryName[] {
  return [...new Set([...binariesForRoles(['etcd', 'master', 'worker'], config.versions), ...runtimeBinaries()])];
}

/**
 * Fills `req.out`. Nothing is written through a link: the folders must be real ones, and each file
 * is made fresh and renamed into place (a link planted in the folder is replaced, never followed).
 */
export async function createBundle(req: BundleRequest): Promise<Manifest> {
  const out = resolve(req.out);
  const refuse: Refusal = (path, what) => new BundleError(path, `${path} is ${what}; bundle create writes only into real folders`, 'remove it, or create the bundle in a new folder');
  ensureRealDir(out, out, refuse);
  const cache = new ArtifactCache(req.cacheDir ?? userCacheDir());
  const names = bundleBinaries(req.config);
  const resolved = await resolveBinaries(
    {
      cache,
      lock: ArtifactLock.inMemory(`the bundle's ${MANIFEST_FILE}`),
      versions: req.config.versions,
      bases: downloadBases(req.config.values),
      ...(req.progress ? { progress: req.progress } : {}),
      warn: req.warn ?? (() => undefined),
    },
    req.arches.flatMap((arch) => names.map((name) => ({ name, arch }))),
  );
  // The manifest goes last: a create that stops half-way leaves a folder that is not a bundle.
  rmSync(join(out, MANIFEST_FILE), { force: true });
  const artifacts: ArtifactEntry[] = [];
  for (const arch of req.arches) {
    ensureRealDir(out, join(out, arch, 'bin'), refuse);
    for (const name of names) {
      const b = resolved.get(resolvedKey(name, arch))!;
      const file = `${arch}/bin/${name}`;
      await cache.linkOrCopy(b.sha256, join(out, file));
      artifacts.push({ component: name, version: b.version, arch, kind: 'binary', file, sha256: b.sha256, size: b.size });
    }
    ensureRealDir(out, join(out, arch, 'images'), refuse);
    const registry = req.config.values.K8S_IMAGE_REGISTRY!;
    for (const image of nodeImages(req.config.versions.kubernetes, registry, req.config.values.HEALTH_CHECK_IMAGE!)) {
      const file = `${arch}/images/${image.name}-${image.tag}.tar`;
      const { sha256, size } = await pullImage(image, arch, join(out, file), {
        cache,
        origin: image.name === 'health-check' ? { property: 'HEALTH_CHECK_IMAGE', value: image.ref } : { property: 'K8S_IMAGE_REGISTRY', value: registry },
        ...(req.progress ? { progress: req.progress } : {}),
      });
      artifacts.push({ component: image.name, version: image.tag, arch, kind: 'image', image: image.ref, file, sha256, size });
    }
  }
  const manifest = ManifestSchema.parse({ createdFor: versionsOf(req.config), artifacts });
  writeFresh(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  return manifest;
}

function versionsOf(config: ClusterConfig): Record<string, string> {
  return Object.fromEntries(Object.entries(config.versions).map(([project, v]) => [project, v.tag]));
}

/** An image archive from a bundle, checked against the manifest: what the runtime phase imports. */
export interface BundledImage {
  name: ImageName;
  /** The reference the runtime must know it by. */
  ref: string;
  file: string;
  sha256: string;
}

/**
 * The bundle's archive of one of the cluster's images (pause, CoreDNS) for an arch, hashed against
 * the manifest. A missing or changed archive is a BundleError.
 */
export async function bundledImage(bundle: LoadedManifest, ref: string, name: ImageName, arch: Arch, hash: (file: string) => Promise<{ sha256: string }> = hashFile): Promise<BundledImage> {
  const entry = bundle.manifest.artifacts.find((e) => e.kind === 'image' && e.image === ref && e.arch === arch);
  if (!entry)
    throw new BundleError(bundle.file, `has no image ${ref} for ${arch}`, 'make the bundle with this config (bootstrap bundle create) so that it holds the images of this Kubernetes version');
  const file = entryPath(bundle, entry)!;
  const actual = await hash(file).catch(() => undefined);
  if (!actual) throw new BundleError(file, `${entry.file} is missing (listed for ${entryKey(entry)})`);
  if (actual.sha256 !== entry.sha256) throw new BundleError(file, `${entry.file} has sha256 ${actual.sha256}, but the manifest says ${entry.sha256}: the file was changed or damaged`);
  return { name, ref, file, sha256: entry.sha256 };
}
