import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactError } from '../errors.js';
import type { Arch, ImageRef } from '../upstream/index.js';
import type { ArtifactCache } from './cache.js';
import { request, type UrlOrigin } from './download.js';
import { digestOf, writeImageArchive, type ImageBlob } from './image-archive.js';
import type { DownloadProgress } from './resolve.js';

/**
 * A small client of the OCI distribution API (what registry.k8s.io and every mirror speak): fetch an
 * image's manifest (picking linux/<arch> from a multi-arch index), its config and layers, each
 * checked against its digest (the registry's content address is the checksum), and write them as
 * one image archive. Anonymous bearer tokens are fetched when the registry asks for one. Layers
 * land in the shared cache under their sha256, so a second bundle reuses them.
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

export async function pullImage(image: ImageRef, arch: Arch, dest: string, opts: PullOptions): Promise<void> {
  const client = new RegistryClient(image, opts.origin);
  const top = await client.manifest(image.tag);
  let manifest = top;
  if (INDEX_TYPES.includes(top.mediaType)) {
    const index = JSON.parse(top.body.toString('utf8')) as ManifestDoc;
    const match = (index.manifests ?? []).find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
    if (!match) {
      throw new ArtifactError(image.ref, `${image.ref} has no linux/${arch} image`, `check the tag, or use an architecture the image is built for`);
    }
    manifest = await client.manifest(match.digest);
  }
  if (!MANIFEST_TYPES.includes(manifest.mediaType)) {
    throw new ArtifactError(image.ref, `${image.ref} answered with a ${manifest.mediaType || 'untyped'} manifest, which kubestrap cannot read`, `check ${opts.origin.property} (now ${opts.origin.value})`);
  }
  const doc = JSON.parse(manifest.body.toString('utf8')) as ManifestDoc;
  if (!doc.config || !doc.layers) throw new ArtifactError(image.ref, `${image.ref}'s manifest lists no config or layers`, `check ${opts.origin.property}`);
  const config = await client.smallBlob(doc.config.digest);
  const layers: ImageBlob[] = [];
  for (const l of doc.layers) layers.push({ digest: l.digest, size: l.size, mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip', file: await client.layer(l, opts) });
  await writeImageArchive(dest, { ref: image.ref, manifest: manifest.body, manifestMediaType: manifest.mediaType, config, layers });
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

  async manifest(reference: string): Promise<{ mediaType: string; body: Buffer }> {
    const res = await this.get(`${this.base}/manifests/${reference}`, { Accept: ACCEPT });
    const body = Buffer.from(await res.arrayBuffer());
    if (reference.startsWith('sha256:')) this.check(reference, body, `${this.base}/manifests/${reference}`);
    const declared = (JSON.parse(body.toString('utf8')) as ManifestDoc).mediaType;
    const mediaType = declared ?? (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { mediaType, body };
  }

  async smallBlob(digest: string): Promise<Buffer> {
    const url = `${this.base}/blobs/${digest}`;
    const body = Buffer.from(await (await this.get(url, {})).arrayBuffer());
    this.check(digest, body, url);
    return body;
  }

  /** A layer in the cache (by its digest, which is its sha256), fetched if not there yet. */
  async layer(layer: Descriptor, opts: PullOptions): Promise<string> {
    const hex = layer.digest.replace(/^sha256:/, '');
    if (opts.cache.has(hex)) return opts.cache.blobPath(hex);
    const url = `${this.base}/blobs/${layer.digest}`;
    const res = await this.get(url, {});
    const temp = opts.cache.tempPath();
    const hash = createHash('sha256');
    opts.progress?.started(url, layer.size);
    try {
      const meter = new Transform({
        transform(chunk: Buffer, _e, done) {
          hash.update(chunk);
          opts.progress?.advanced(chunk.length);
          done(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(res.body! as never), meter, createWriteStream(temp));
    } catch (err) {
      rmSync(temp, { force: true });
      throw new ArtifactError(url, `the download of ${url} broke off: ${(err as Error).message}`, `re-run, or check ${this.origin.property} (now ${this.origin.value}) and the network`);
    } finally {
      opts.progress?.finished(url);
    }
    const actual = hash.digest('hex');
    if (actual !== hex) {
      rmSync(temp, { force: true });
      throw new ArtifactError(url, `checksum mismatch for ${url}: expected sha256 ${hex} (the layer's digest in the image manifest), got ${actual}; the download was deleted`, `the registry or a proxy served other bytes: check ${this.origin.property} (now ${this.origin.value})`);
    }
    return opts.cache.adopt(temp, hex);
  }

  private check(digest: string, body: Buffer, url: string): void {
    const actual = digestOf(body);
    if (actual !== digest) {
      throw new ArtifactError(url, `checksum mismatch for ${url}: expected ${digest}, got ${actual}`, `the registry or a proxy served other bytes: check ${this.origin.property} (now ${this.origin.value})`);
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
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new ArtifactError(tokenUrl.toString(), 'the registry\'s token service gave no token', `check ${this.origin.property}`);
    return token;
  }
}
