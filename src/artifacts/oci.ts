import { createWriteStream, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactError } from '../errors.js';
import { discard } from '../fresh-file.js';
import type { Arch, ImageRef } from '../upstream/index.js';
import type { ArtifactCache } from './cache.js';
import { readBody, request, type UrlOrigin } from './download.js';
import { digestHex, digestOf, writeImageArchive, type ImageBlob } from './image-archive.js';
import { LIMITS, sizeText } from './limits.js';
import { meter } from './meter.js';
import type { DownloadProgress } from './resolve.js';
import type { Content } from './wire-encoding.js';

/**
 * A small client of the OCI distribution API (what registry.k8s.io and every mirror speak): fetch an
 * image's manifest (picking linux/<arch> from a multi-arch index), its config and layers, each
 * checked against its digest (the registry's content address is the checksum), and write them as
 * one image archive. Anonymous bearer tokens are fetched when the registry asks for one. Layers
 * land in the shared cache under their sha256, so a second bundle reuses them (hashed again as
 * the archive is written). Digests must be `sha256:<64 hex>` (they become URLs and file names), and
 * what a registry sends is bounded: manifests, configs and tokens by a small limit, a layer by the
 * size its descriptor gives (at most the download limit; see limits.ts).
 */
const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
const ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ');

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string };
}

interface ManifestDoc {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

export interface PullOptions {
  cache: ArtifactCache;
  /** The property the registry comes from, for messages. */
  origin: UrlOrigin;
  progress?: DownloadProgress;
}

/** Writes the image's archive to `dest`; returns the archive's sha256 and size. */
export async function pullImage(image: ImageRef, arch: Arch, dest: string, opts: PullOptions): Promise<Content> {
  const client = new RegistryClient(image, opts.origin);
  const top = await client.manifest(image.tag);
  let manifest = top;
  if (INDEX_TYPES.includes(top.mediaType)) {
    const match = (top.doc.manifests ?? []).find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
    if (!match) {
      throw new ArtifactError(image.ref, `${image.ref} has no linux/${arch} image`, `check the tag, or use an architecture the image is built for`);
    }
    manifest = await client.manifest(match.digest);
  }
  if (!MANIFEST_TYPES.includes(manifest.mediaType)) {
    throw new ArtifactError(
      image.ref,
      `${image.ref} answered with a ${manifest.mediaType || 'untyped'} manifest, which kubestrap cannot read`,
      `check ${opts.origin.property} (now ${opts.origin.value})`,
    );
  }
  const doc = manifest.doc;
  if (!doc.config || !doc.layers) throw new ArtifactError(image.ref, `${image.ref}'s manifest lists no config or layers`, `check ${opts.origin.property}`);
  const config = await client.smallBlob(doc.config);
  const layers: ImageBlob[] = [];
  for (const l of doc.layers) layers.push({ digest: l.digest, size: l.size, mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip', file: await client.layer(l, opts) });
  return writeImageArchive(dest, { ref: image.ref, manifest: manifest.body, manifestMediaType: manifest.mediaType, config, layers });
}

class RegistryClient {
  private token: string | undefined;
  private readonly base: string;

  constructor(
    private readonly image: ImageRef,
    private readonly origin: UrlOrigin,
  ) {
    const host = image.registry.split('/')[0]!;
    // Like Docker, plain HTTP only for a registry on this machine.
    const scheme = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(host) ? 'http' : 'https';
    const path = image.registry.slice(host.length);
    this.base = `${scheme}://${host}/v2${path}/${image.repository}`;
  }

  /** A manifest or index by kubestrap's tag, or by a digest from the registry (checked against it). */
  async manifest(reference: string): Promise<{ mediaType: string; body: Buffer; doc: ManifestDoc }> {
    const byDigest = reference.startsWith('sha256:');
    if (byDigest) digestHex(reference, this.image.ref);
    const url = `${this.base}/manifests/${reference}`;
    const res = await this.get(url, { Accept: ACCEPT });
    const body = await readBody(res, url, this.origin);
    if (byDigest) this.check(reference, body, url);
    const doc = this.parse(body, url);
    const mediaType = doc.mediaType ?? (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { mediaType, body, doc };
  }

  async smallBlob(blob: Descriptor): Promise<Buffer> {
    digestHex(blob.digest, this.image.ref);
    const url = `${this.base}/blobs/${blob.digest}`;
    const body = await readBody(await this.get(url, {}), url, this.origin);
    this.check(blob.digest, body, url);
    return body;
  }

  /** A layer in the cache (by its digest, which is its sha256), fetched if not there yet; at most the size its descriptor gives. */
  async layer(layer: Descriptor, opts: PullOptions): Promise<string> {
    const hex = digestHex(layer.digest, this.image.ref);
    if (opts.cache.has(hex)) return opts.cache.blobPath(hex);
    const url = `${this.base}/blobs/${layer.digest}`;
    if (!Number.isSafeInteger(layer.size) || layer.size < 0 || layer.size > LIMITS.download) {
      throw new ArtifactError(
        url,
        `${this.image.ref}'s manifest gives its layer ${layer.digest} a size of ${layer.size} bytes, more than kubestrap takes (${sizeText(LIMITS.download)})`,
        `check ${this.origin.property} (now ${this.origin.value})`,
      );
    }
    const res = await this.get(url, {});
    const temp = opts.cache.tempPath();
    const tooLarge = () =>
      new ArtifactError(
        url,
        `${url} sends more than the ${layer.size} bytes its descriptor gives; nothing of it was kept`,
        `the registry or a proxy serves other bytes: check ${this.origin.property} (now ${this.origin.value})`,
      );
    const m = meter({ limit: layer.size, tooLarge, onBytes: (n) => opts.progress?.advanced(n) });
    opts.progress?.started(url, layer.size);
    const file = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
    try {
      await pipeline(Readable.fromWeb(res.body! as never), m.stream, file);
    } catch (err) {
      await discard(file, temp);
      if (err instanceof ArtifactError) throw err;
      throw new ArtifactError(url, `the download of ${url} broke off: ${(err as Error).message}`, `re-run, or check ${this.origin.property} (now ${this.origin.value}) and the network`);
    } finally {
      opts.progress?.finished(url);
    }
    const actual = m.hex('sha256');
    if (actual !== hex) {
      rmSync(temp, { force: true });
      throw new ArtifactError(
        url,
        `checksum mismatch for ${url}: expected sha256 ${hex} (the layer's digest in the image manifest), got ${actual}; the download was deleted`,
        `the registry or a proxy served other bytes: check ${this.origin.property} (now ${this.origin.value})`,
      );
    }
    return opts.cache.adopt(temp, hex);
  }

  private parse(body: Buffer, url: string): ManifestDoc {
    try {
      return JSON.parse(body.toString('utf8')) as ManifestDoc;
    } catch {
      throw new ArtifactError(url, `${url} is not JSON`, `check ${this.origin.property} (now ${this.origin.value})`);
    }
  }

  private check(digest: string, body: Buffer, url: string): void {
    const actual = digestOf(body);
    if (actual !== digest) {
      throw new ArtifactError(
        url,
        `checksum mismatch for ${url}: expected ${digest}, got ${actual}`,
        `the registry or a proxy served other bytes: check ${this.origin.property} (now ${this.origin.value})`,
      );
    }
  }

  /** GET with the registry's anonymous bearer token when it asks for one (401 + WWW-Authenticate). */
  private async get(url: string, headers: Record<string, string>): Promise<Response> {
    const withAuth = () => (this.token ? { ...headers, Authorization: `Bearer ${this.token}` } : headers);
    let res = await request(url, this.origin, withAuth());
    if (res.status === 401 && !this.token) {
      await res.body?.cancel();
      this.token = await this.fetchToken(res.headers.get('www-authenticate') ?? '', url);
      res = await request(url, this.origin, withAuth());
    }
    if (res.ok) return res;
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 404) {
      throw new ArtifactError(this.image.ref, `${this.image.ref} is not in the registry (${url}: HTTP 404)`, `check the image's tag and ${this.origin.property} (now ${this.origin.value})`);
    }
    throw new ArtifactError(url, `${url} answered HTTP ${res.status}`, `check ${this.origin.property} (now ${this.origin.value}), the network and HTTPS_PROXY`);
  }

  private async fetchToken(challenge: string, url: string): Promise<string> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (!/^Bearer /i.test(challenge) || !params.realm) {
      throw new ArtifactError(url, `${url} wants authentication kubestrap cannot give (${challenge || 'no challenge'})`, 'use a registry or mirror that allows anonymous pulls');
    }
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? `repository:${this.image.repository}:pull`);
    const res = await request(tokenUrl.toString(), this.origin, {});
    if (!res.ok) throw new ArtifactError(tokenUrl.toString(), `the registry's token service answered HTTP ${res.status}`, `check ${this.origin.property}`);
    const body = JSON.parse((await readBody(res, tokenUrl.toString(), this.origin)).toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new ArtifactError(tokenUrl.toString(), "the registry's token service gave no token", `check ${this.origin.property}`);
    return token;
  }
}
