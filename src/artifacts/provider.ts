import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { ClusterSpec } from '../config/cluster-spec.js';
import type { TransferCodec } from '../engine/upload.js';
import { BundleError, KubestrapError } from '../errors.js';
import { DOWNLOAD_BASES, type Arch, type BinaryName, type DownloadBases } from '../upstream/index.js';
import { ArtifactCache, userCacheDir, type EncodedFile } from './cache.js';
import { ArtifactLock } from './lock.js';
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
  notice?: (message: string) => void;
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

  bases(): DownloadBases {
    return Object.fromEntries(Object.keys(DOWNLOAD_BASES).map((k) => [k, this.spec.values[k] ?? DOWNLOAD_BASES[k as keyof DownloadBases]])) as DownloadBases;
  }

  /** Resolves (and checks) every requested binary; problems instead of exceptions, for preflight-style reporting. */
  async resolve(requests: readonly BinaryRequest[]): Promise<KubestrapError[]> {
    try {
      const manifest = this.opts.manifestFile ? loadManifest(this.opts.manifestFile) : undefined;
      const bundle = this.bundle();
      const found = await resolveBinaries(
        {
          cache: this.cache,
          lock: ArtifactLock.open(this.spec.stateDir),
          versions: this.spec.versions,
          bases: this.bases(),
          ...(bundle ? { bundle } : {}),
          ...(manifest ? { manifest } : {}),
          ...(this.opts.progress ? { progress: this.opts.progress } : {}),
          notice: this.opts.notice ?? (() => undefined),
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

  /** Makes (once, cached) the wire encodings these binaries need; at most two at a time. */
  async encode(wanted: ReadonlyArray<{ binary: ResolvedBinary; codec: TransferCodec }>): Promise<void> {
    const limit = pLimit(2);
    const unique = new Map(wanted.map((w) => [`${w.codec}/${w.binary.sha256}`, w]));
    await Promise.all(
      [...unique].map(([key, w]) =>
        limit(async () => {
          this.encodings.set(key, await this.cache.encoded(w.binary.sha256, w.binary.file, w.codec));
        }),
      ),
    );
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
