import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { ArtifactError } from '../errors.js';
import { writeFreshFrom } from '../fresh-file.js';
import { printable } from '../printable.js';
import { meter, readChunks } from './meter.js';
import type { Content } from './wire-encoding.js';

/**
 * An image as one tar file that both `docker load` and `ctr images import` read: the OCI image
 * layout (oci-layout, index.json, blobs/sha256/...) plus Docker's manifest.json pointing at the same
 * blobs, as `docker save` writes it since Docker 25. Layers stay as the registry compressed them.
 */
export interface ImageBlob {
  /** sha256:<hex> */
  digest: string;
  mediaType: string;
  size: number;
  /** Local file holding exactly these bytes. */
  file: string;
}

export interface ImageContents {
  /** registry/repository:tag the runtime will know it by. */
  ref: string;
  manifest: Buffer;
  manifestMediaType: string;
  config: Buffer;
  layers: ImageBlob[];
}

export function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The hex of a `sha256:<64 hex>` digest. Digests come from a registry's manifests and become URLs
 * and file names (in the cache, in the archive), so anything else, say `sha256:../../pki/ca.key`,
 * is refused.
 */
export function digestHex(digest: string, where: string): string {
  if (!DIGEST.test(digest)) {
    throw new ArtifactError(
      where,
      `"${printable(digest)}" is not a sha256 digest (sha256: and 64 lower-case hex digits)`,
      'the registry served a malformed or hostile manifest: use another registry or mirror',
    );
  }
  return digest.slice('sha256:'.length);
}

/**
 * Writes the archive as a new file at `dest` (never through a link), each layer hashed as it is
 * read and refused unless it is what its digest says; returns the archive's own sha256 and size.
 */
export async function writeImageArchive(dest: string, image: ImageContents): Promise<Content> {
  const layers = image.layers.map((l) => ({ ...l, hex: digestHex(l.digest, image.ref) }));
  const configDigest = digestOf(image.config);
  const manifestDigest = digestOf(image.manifest);
  const tag = image.ref.slice(image.ref.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: image.manifestMediaType,
        digest: manifestDigest,
        size: image.manifest.length,
        annotations: { 'io.containerd.image.name': image.ref, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  const dockerManifest = [{ Config: `blobs/sha256/${digestHex(configDigest, image.ref)}`, RepoTags: [image.ref], Layers: layers.map((l) => `blobs/sha256/${l.hex}`) }];

  const archive = meter();
  await writeFreshFrom(dest, 0o644, async (out) => {
    const tar = pack();
    const written = pipeline(tar, archive.stream, out);
    const entry = (name: string, data: Buffer) => new Promise<void>((resolve, reject) => tar.entry({ name, mode: 0o644 }, data, (err) => (err ? reject(err) : resolve())));
    try {
      await entry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      await entry('index.json', Buffer.from(JSON.stringify(index)));
      await entry('manifest.json', Buffer.from(JSON.stringify(dockerManifest)));
      await entry(`blobs/sha256/${digestHex(manifestDigest, image.ref)}`, image.manifest);
      await entry(`blobs/sha256/${digestHex(configDigest, image.ref)}`, image.config);
      const seen = new Set<string>();
      for (const layer of layers) {
        if (seen.has(layer.hex)) continue;
        seen.add(layer.hex);
        await addLayer(tar, layer, image.ref);
      }
      tar.finalize();
    } catch (err) {
      tar.destroy(err as Error);
      await written.catch(() => undefined);
      throw err;
    }
    await written;
  });
  return { sha256: archive.hex('sha256'), size: archive.size() };
}

/** One layer's file as an entry, hashed as it is read: other bytes than its digest says fail the archive. */
async function addLayer(tar: ReturnType<typeof pack>, layer: ImageBlob & { hex: string }, ref: string): Promise<void> {
  const size = statSync(layer.file).size;
  if (size !== layer.size)
    throw new ArtifactError(
      layer.file,
      `${layer.file} holds ${size} bytes, but ${ref}'s manifest says its layer ${layer.digest} has ${layer.size}`,
      'the cached layer is damaged: delete it and run again',
    );
  const m = meter({ limit: size });
  await new Promise<void>((resolve, reject) => {
    const sink = tar.entry({ name: `blobs/sha256/${layer.hex}`, mode: 0o644, size }, (err) => (err ? reject(err) : resolve()));
    pipeline(readChunks(layer.file), m.stream, sink).catch(reject);
  });
  if (m.hex('sha256') !== layer.hex) {
    throw new ArtifactError(layer.file, `${layer.file} is not ${ref}'s layer ${layer.digest}: it holds sha256 ${m.hex('sha256')}`, 'the cached layer was changed or damaged: delete it and run again');
  }
}
