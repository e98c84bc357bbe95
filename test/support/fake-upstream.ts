import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../../src/artifacts/image-archive.js';
import { artifactSources, binariesOf, PROJECTS, type Arch, type DownloadBases, type ImageRef, type ProjectVersions } from '../../src/upstream/index.js';
import { tgz, type Route } from './artifact-server.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** What a fake binary holds: its name, version and arch, so a test can tell them apart. */
export function fakeBinary(name: string, version: string, arch: Arch): Buffer {
  return Buffer.from(`#!/bin/sh\n# fake ${name} ${version} ${arch}\necho ${name} ${version}\n`);
}

/**
 * Routes serving every upstream download of these versions as kubestrap's catalog says upstream
 * publishes them (same paths, archives and checksum files), with fake binaries inside. Served at
 * `url`, which every base URL points to. Pinned (CHANGELOG) tarballs cannot be faked: use versions
 * kubestrap does not pin.
 */
export async function fakeUpstream(url: string, versions: ProjectVersions, arches: readonly Arch[]): Promise<Record<string, Route>> {
  const bases: DownloadBases = { K8S_DOWNLOAD_URL: url, GITHUB_DOWNLOAD_URL: url, DOCKER_DOWNLOAD_URL: url };
  const routes: Record<string, Route> = {};
  for (const project of PROJECTS) {
    for (const arch of arches) {
      for (const source of artifactSources({ project, version: versions[project], arch, binaries: binariesOf(project), bases })) {
        const path = new URL(source.url).pathname;
        const body =
          source.layout.kind === 'file'
            ? fakeBinary(source.layout.binary, versions[project].tag, arch)
            : await tgz(Object.fromEntries(Object.entries(source.layout.members).map(([name, member]) => [member, fakeBinary(name, versions[project].tag, arch)])));
        routes[path] = body;
        if (source.published) {
          const sumsPath = new URL(source.published.url).pathname;
          const line = `${sha256(body)}  ${source.published.entry}\n`;
          const existing = routes[sumsPath];
          routes[sumsPath] = typeof existing === 'string' && !existing.includes(` ${source.published.entry}\n`) ? existing + line : line;
        }
      }
    }
  }
  return routes;
}

/** A registry serving one image per ref (multi-arch index, per-arch manifest, config, one layer), behind an anonymous bearer token. */
export function fakeRegistry(images: readonly ImageRef[], arches: readonly Arch[], opts: { tokenPath?: string; realm?: string } = {}): Record<string, Route> {
  const routes: Record<string, Route> = {};
  const token = 'anonymous-pull-token';
  const guarded =
    (body: Buffer, mediaType: string): Route =>
    (req, res) => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${opts.realm}",service="fake-registry",scope="repository:x:pull"` }).end();
        return;
      }
      res.writeHead(200, { 'content-type': mediaType, 'content-length': body.length }).end(body);
    };
  routes[opts.tokenPath ?? '/token'] = JSON.stringify({ token });
  for (const image of images) {
    const manifests = arches.map((arch) => {
      const layer = gzipSync(Buffer.from(`layer of ${image.ref} for ${arch}`));
      const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
        }),
      );
      const repo = `/v2/${image.repository}`;
      routes[`${repo}/blobs/${digestOf(layer)}`] = guarded(layer, 'application/octet-stream');
      routes[`${repo}/blobs/${digestOf(config)}`] = guarded(config, 'application/octet-stream');
      routes[`${repo}/manifests/${digestOf(manifest)}`] = guarded(manifest, 'application/vnd.oci.image.manifest.v1+json');
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifest), size: manifest.length, platform: { os: 'linux', architecture: arch } };
    });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    routes[`/v2/${image.repository}/manifests/${image.tag}`] = guarded(index, 'application/vnd.oci.image.index.v1+json');
  }
  return routes;
}
