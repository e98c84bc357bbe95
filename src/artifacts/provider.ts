import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { ClusterSpec } from '../config/cluster-spec.js';
import type { TransferCodec } from '../transfer/transfer-codec.js';
import type { Upload } from '../transfer/upload.js';
import { BundleError, KubestrapError, type Warning } from '../errors.js';
import { clusterImage, downloadBases, healthCheckImage, type Arch, type BinaryName, type ImageName } from '../upstream/index.js';
import { ArtifactCache, userCacheDir, type EncodedFile } from './cache.js';
import { ArtifactLock } from './lock.js';
import { bundledImage, type BundledImage } from './bundle.js';
import { loadManifest, MANIFEST_FILE, type LoadedManifest } from './manifest.js';
import { resolveBinaries, resolvedKey, type BinaryRequest, type DownloadProgress, type ResolvedBinary } from './resolve.js';

/** Where a run takes its artifacts from, as the command line says. */
export interface ArtifactOptions {
  /** Offline: everything from this bundle folder (made by `bootstrap bundle create`), no network. */
  bundleDir?: string;
  /** The user's own builds, in the manifest format; preferred over every other source. */
  manifestFile?: string;
  /** Default: the user's cache (XDG_CACHE_HOME or ~/.cache, then kubestrap). */
  cacheDir?: string;
  progress?: DownloadProgress;
  warn?: (warning: Warning) => void;
}

/**
 * The artifacts of one run for one cluster: resolves binaries once for all phases (through the
 * cache, the cluster's lock file, a bundle or a user manifest) and makes their encodings for the
 * wire. What the runtime and bring-up phases use to get a binary or an image archive.
 */
export class ArtifactProvider {
  readonly cache: ArtifactCache;
  private readonly resolved = new Map<string, ResolvedBinary>();
  private readonly encodings = new Map<string, EncodedFile>();
  private loadedBundle: LoadedManifest | undefined;
  /** The cluster's lock file, opened by `resolve`: encodings made or checked are pinned there too. */
  private lock: ArtifactLock | undefined;

  constructor(
    private readonly spec: ClusterSpec,
    private readonly opts: ArtifactOptions = {},
  ) {
    this.cache = new ArtifactCache(opts.cacheDir ?? userCacheDir());
  }

  /** The offline bundle of this run, when there is one. */
  bundle(): LoadedManifest | undefined {
    if (!this.opts.bundleDir) return undefined;
    this.loadedBundle ??= openBundle(this.opts.bundleDir);
    return this.loadedBundle;
  }

  /** Resolves (and checks) every requested binary; problems instead of exceptions, for preflight-style reporting. */
  async resolve(requests: readonly BinaryRequest[]): Promise<KubestrapError[]> {
    try {
      const manifest = this.opts.manifestFile ? loadManifest(this.opts.manifestFile) : undefined;
      const bundle = this.bundle();
      this.lock = ArtifactLock.open(this.spec.stateDir);
      const found = await resolveBinaries(
        {
          cache: this.cache,
          lock: this.lock,
          versions: this.spec.versions,
          bases: downloadBases(this.spec.values),
          ...(bundle ? { bundle } : {}),
          ...(manifest ? { manifest } : {}),
          ...(this.opts.progress ? { progress: this.opts.progress } : {}),
          warn: this.opts.warn ?? (() => undefined),
        },
        requests,
      );
      for (const [key, b] of found) this.resolved.set(key, b);
      return [];
    } catch (err) {
      if (err instanceof KubestrapError) return [err];
      throw err;
    }
  }

  /** A binary `resolve` found. */
  binary(name: BinaryName, arch: Arch): ResolvedBinary {
    const b = this.resolved.get(resolvedKey(name, arch));
    if (!b) throw new Error(`${name} for ${arch} was not resolved before use`);
    return b;
  }

  /** Makes (once, cached) the wire encodings these binaries need, at most two at a time, and pins the new ones. */
  async encode(wanted: ReadonlyArray<{ binary: ResolvedBinary; codec: TransferCodec }>): Promise<void> {
    const limit = pLimit(2);
    const unique = new Map(wanted.map((w) => [`${w.codec}/${w.binary.sha256}`, w]));
    await Promise.all(
      [...unique].map(([key, w]) =>
        limit(async () => {
          const { transfer, made } = await this.cache.encoded(w.binary, w.binary.file, w.codec);
          this.encodings.set(key, transfer);
          if (made) this.resolvedLock().pinEncoding(w.codec, w.binary.sha256, made);
        }),
      ),
    );
    this.resolvedLock().save();
  }

  /**
   * Offline: the bundle's archive of one of the cluster's images (pause, CoreDNS) for `arch`,
   * checked against the bundle's manifest, for the runtime to import. Online: undefined (the
   * runtime pulls from K8S_IMAGE_REGISTRY).
   */
  async image(name: ImageName, arch: Arch): Promise<BundledImage | undefined> {
    const bundle = this.bundle();
    if (!bundle) return undefined;
    const ref = name === 'health-check' ? healthCheckImage(this.spec.values.HEALTH_CHECK_IMAGE!).ref : clusterImage(this.spec.kubeVersion, this.spec.values.K8S_IMAGE_REGISTRY!, name).ref;
    return bundledImage(bundle, ref, name, arch, (f) => this.cache.hashOf(f));
  }

  /**
   * Before files leave for a host: each must still decode to the bytes it stands for (see
   * ArtifactCache.checkSent), read once per run and only if this run did not make or hash it; an
   * encoding by its digest in the cluster's lock file when it has one there.
   */
  async checkSent(uploads: readonly Upload[]): Promise<void> {
    const lock = this.resolvedLock();
    await Promise.all(
      uploads.map(async ({ transfer, sha256, size }) => {
        const decoded = await this.cache.checkSent(transfer, { sha256, size }, lock.encoding(transfer.codec, sha256));
        if (decoded) lock.pinEncoding(transfer.codec, sha256, decoded);
      }),
    );
    lock.save();
  }

  private resolvedLock(): ArtifactLock {
    if (!this.lock) throw new Error('artifacts are encoded or sent before they were resolved');
    return this.lock;
  }

  hasEncoding(binary: ResolvedBinary, codec: TransferCodec): boolean {
    return codec === 'none' || this.encodings.has(`${codec}/${binary.sha256}`);
  }

  /** The encoding `encode` made; codec `none` needs none. */
  encoding(binary: ResolvedBinary, codec: TransferCodec): EncodedFile {
    if (codec === 'none') return { codec, file: binary.file, bytes: binary.size };
    const e = this.encodings.get(`${codec}/${binary.sha256}`);
    if (!e) throw new Error(`${binary.name} was not encoded with ${codec} before use`);
    return e;
  }
}

function openBundle(dir: string): LoadedManifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) {
    throw new BundleError(dir, `${dir} is not an offline bundle: it has no ${MANIFEST_FILE}`, 'give the folder made by `bootstrap bundle create --out DIR`');
  }
  return loadManifest(file);
}

/**
 * The artifacts of one run, shared by every phase that installs something (artifacts, runtime):
 * one provider per run, made when the first phase prepares (the spec is known then).
 */
export class RunArtifacts {
  private current: { spec: ClusterSpec; provider: ArtifactProvider } | undefined;

  constructor(readonly options: ArtifactOptions = {}) {}

  provider(spec: ClusterSpec): ArtifactProvider {
    if (this.current?.spec !== spec) this.current = { spec, provider: new ArtifactProvider(spec, this.options) };
    return this.current.provider;
  }

  /** The provider a phase's prepare made; resources() may only run after it. */
  prepared(): ArtifactProvider {
    if (!this.current) throw new Error('artifacts are used before any phase prepared them');
    return this.current.provider;
  }
}
