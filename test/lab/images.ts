import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { digestOf, writeImageArchive } from '../../src/artifacts/image-archive.js';
import type { Arch } from '../../src/upstream/index.js';

/**
 * Image archives made on this machine (no registry is reachable from the lab): one layer holding
 * busybox-static as /bin/busybox and /bin/sh, plus an entrypoint script that idles until stopped,
 * written in the same archive format `bundle create` writes for images pulled from a registry.
 */
export interface LocalImage {
  ref: string;
  /** Path of the entrypoint inside the image, e.g. /pause. */
  entrypoint: string;
}

const IDLE = '#!/bin/sh\n# kubestrap lab stand-in image: idles until stopped.\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait $!; done\n';

async function layerTar(busybox: Buffer, entrypoint: string): Promise<Buffer> {
  const p = pack();
  p.entry({ name: 'bin/', type: 'directory', mode: 0o755 });
  p.entry({ name: 'bin/busybox', mode: 0o755 }, busybox);
  p.entry({ name: 'bin/sh', type: 'symlink', linkname: 'busybox' });
  p.entry({ name: 'bin/sleep', type: 'symlink', linkname: 'busybox' });
  p.entry({ name: entrypoint.replace(/^\//, ''), mode: 0o755 }, IDLE);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function writeLocalImage(dest: string, image: LocalImage, busybox: Buffer, arch: Arch): Promise<void> {
  const tar = await layerTar(busybox, image.entrypoint);
  const gz = gzipSync(tar);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-image-'));
  try {
    const layerFile = path.join(tmp, 'layer.tar.gz');
    fs.writeFileSync(layerFile, gz);
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        config: { Entrypoint: [image.entrypoint], Labels: { 'org.kubestrap.lab': 'stand-in image' } },
        rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
        history: [{ created_by: 'kubestrap lab (test/lab/images.ts)' }],
      }),
    );
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(gz), size: gz.length, file: layerFile };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
        layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
      }),
    );
    await writeImageArchive(dest, { ref: image.ref, manifest, manifestMediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function sha256Of(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
