import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';

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

const hexOf = (digest: string) => digest.replace(/^sha256:/, '');

export async function writeImageArchive(dest: string, image: ImageContents): Promise<void> {
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
  const dockerManifest = [{ Config: `blobs/sha256/${hexOf(configDigest)}`, RepoTags: [image.ref], Layers: image.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`) }];

  const tar = pack();
  const written = pipeline(tar, createWriteStream(dest));
  const entry = (name: string, data: Buffer) => new Promise<void>((resolve, reject) => tar.entry({ name, mode: 0o644 }, data, (err) => (err ? reject(err) : resolve())));
  await entry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  await entry('index.json', Buffer.from(JSON.stringify(index)));
  await entry('manifest.json', Buffer.from(JSON.stringify(dockerManifest)));
  await entry(`blobs/sha256/${hexOf(manifestDigest)}`, image.manifest);
  await entry(`blobs/sha256/${hexOf(configDigest)}`, image.config);
  const seen = new Set<string>();
  for (const layer of image.layers) {
    if (seen.has(layer.digest)) continue;
    seen.add(layer.digest);
    await new Promise<void>((resolve, reject) => {
      const sink = tar.entry({ name: `blobs/sha256/${hexOf(layer.digest)}`, mode: 0o644, size: statSync(layer.file).size }, (err) => (err ? reject(err) : resolve()));
      pipeline(createReadStream(layer.file), sink).catch(reject);
    });
  }
  tar.finalize();
  await written;
}
