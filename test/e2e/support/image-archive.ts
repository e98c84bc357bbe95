import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * A one-layer image archive in `docker save`'s format, tagged `ref`, as the offline bundle carries
 * the pause image: what `ctr images import` and `docker load` read. No registry needed to make it.
 */
export function writeImageArchive(out: string, ref: string, files: Record<string, string | Buffer> = { 'kubestrap.txt': 'made by the e2e suite\n' }): string {
  const work = mkdtempSync(join(tmpdir(), 'kubestrap-image-'));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(rootfs, name)), { recursive: true });
      // Binaries (a Buffer) must stay executable in the image.
      writeFileSync(join(rootfs, name), content, { mode: typeof content === 'string' ? 0o644 : 0o755 });
    }
    const archive = join(work, 'archive');
    mkdirSync(archive);
    const layer = join(work, 'layer.tar');
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', rootfs, '-cf', layer, '.']);
    const layerDigest = sha256(readFileSync(layer));
    mkdirSync(join(archive, layerDigest));
    writeFileSync(join(archive, layerDigest, 'layer.tar'), readFileSync(layer));
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/kubestrap.txt'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] } });
    const configFile = `${sha256(config)}.json`;
    writeFileSync(join(archive, configFile), config);
    writeFileSync(join(archive, 'manifest.json'), JSON.stringify([{ Config: configFile, RepoTags: [ref], Layers: [`${layerDigest}/layer.tar`] }]));
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', archive, '-cf', out, '.']);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
