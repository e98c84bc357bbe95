import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundledImage, bundleBinaries, createBundle } from '../../src/artifacts/bundle.js';
import { ArtifactCache } from '../../src/artifacts/cache.js';
import { ArtifactLock } from '../../src/artifacts/lock.js';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { resolveBinaries, resolvedKey } from '../../src/artifacts/resolve.js';
import { loadClusterConfig } from '../../src/config/cluster-config.js';
import { BundleError } from '../../src/errors.js';
import { clusterImages } from '../../src/upstream/index.js';
import { runCli } from '../support/cli.js';
import { deadUrl, useArtifactServers } from '../support/artifact-server.js';
import { fakeBinary, fakeRegistry, fakeUpstream } from '../support/fake-upstream.js';
import { useTempDir } from '../support/tmp.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('bundle create, then use with the network gone', () => {
  const tmp = useTempDir();
  const serve = useArtifactServers();

  async function upstream(arches: Array<'amd64' | 'arm64'>) {
    const dir = tmp();
    const server = await serve({});
    const registry = new URL(server.url).host;
    const configFile = join(dir, 'config.properties');
    writeFileSync(
      configFile,
      [`KUBE_VERSION=v1.37.1`, `K8S_DOWNLOAD_URL=${server.url}`, `GITHUB_DOWNLOAD_URL=${server.url}`, `DOCKER_DOWNLOAD_URL=${server.url}`, `K8S_IMAGE_REGISTRY=${registry}`, ''].join('\n'),
    );
    const config = loadClusterConfig(configFile);
    const routes = await fakeUpstream(server.url, config.versions, arches);
    const images = clusterImages(config.versions.kubernetes, registry);
    for (const [path, route] of Object.entries({ ...routes, ...fakeRegistry(images, arches, { realm: `${server.url}/token` }) })) server.routes.set(path, route);
    return { dir, server, config, configFile, images };
  }

  it('fills a folder with every binary and image the config needs, for each arch, with a manifest of checksums', async () => {
    const { dir, server, configFile } = await upstream(['amd64', 'arm64']);
    const out = join(dir, 'bundle');
    const env = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = join(dir, 'cache');
    try {
      const run = await runCli(['bundle', 'create', '--out', out, '-c', configFile, '--arch', 'amd64,arm64']);
      expect(run.stderr).not.toContain('error');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/bundle written to .*bundle\/ \(\d+ files, .*\); use it with: bootstrap apply --bundle/);
    } finally {
      if (env === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = env;
    }
    const { manifest } = loadManifest(join(out, MANIFEST_FILE));
    const binaries = manifest.artifacts.filter((a) => a.kind === 'binary');
    const config = loadClusterConfig(configFile);
    expect(binaries).toHaveLength(bundleBinaries(config).length * 2);
    for (const a of manifest.artifacts) expect(sha256(readFileSync(join(out, a.file!)))).toBe(a.sha256);
    expect(readFileSync(join(out, 'arm64/bin/kubelet'), 'utf8')).toBe(fakeBinary('kubelet', 'v1.37.1', 'arm64').toString());
    expect(manifest.artifacts.filter((a) => a.kind === 'image').map((a) => `${a.arch} ${a.image}`).sort()).toEqual([
      `amd64 ${new URL(server.url).host}/coredns/coredns:v1.14.4`,
      `amd64 ${new URL(server.url).host}/pause:3.10.1`,
      `arm64 ${new URL(server.url).host}/coredns/coredns:v1.14.4`,
      `arm64 ${new URL(server.url).host}/pause:3.10.1`,
    ]);
    expect(manifest.createdFor).toMatchObject({ kubernetes: 'v1.37.1', etcd: 'v3.6.16', containerd: 'v2.3.0' });
    expect(bundleBinaries(config)).toEqual(expect.arrayContaining(['containerd', 'runc', 'dockerd', 'etcdutl', 'flannel', 'portmap']));
  });

  it('writes image archives a runtime imports: OCI layout plus docker manifest, layers checked against their digests', async () => {
    const { dir, config, images } = await upstream(['amd64']);
    const out = join(dir, 'bundle');
    await createBundle({ config, arches: ['amd64'], out, cacheDir: join(dir, 'cache') });
    const bundle = loadManifest(join(out, MANIFEST_FILE));
    const pause = await bundledImage(bundle, images[0]!.ref, 'pause', 'amd64');
    const { execFileSync } = await import('node:child_process');
    const listing = execFileSync('tar', ['tf', pause.file], { encoding: 'utf8' }).split('\n');
    expect(listing).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'manifest.json']));
    const dockerManifest = JSON.parse(execFileSync('tar', ['xOf', pause.file, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[]; Layers: string[] }>;
    expect(dockerManifest[0]!.RepoTags).toEqual([images[0]!.ref]);
    expect(listing).toEqual(expect.arrayContaining(dockerManifest[0]!.Layers));

    writeFileSync(pause.file, 'damaged');
    await expect(bundledImage(bundle, images[0]!.ref, 'pause', 'amd64')).rejects.toThrow(BundleError);
  });

  it('serves apply from the bundle alone: every binary resolves with every mirror dead', async () => {
    const { dir, config } = await upstream(['amd64']);
    const out = join(dir, 'bundle');
    await createBundle({ config, arches: ['amd64'], out, cacheDir: join(dir, 'cache') });
    const dead = await deadUrl();
    const names = bundleBinaries(config);
    const got = await resolveBinaries(
      {
        cache: new ArtifactCache(join(dir, 'empty-cache')),
        lock: ArtifactLock.inMemory('test'),
        versions: config.versions,
        bases: { K8S_DOWNLOAD_URL: dead, GITHUB_DOWNLOAD_URL: dead, DOCKER_DOWNLOAD_URL: dead },
        bundle: loadManifest(join(out, MANIFEST_FILE)),
        notice: () => undefined,
      },
      names.map((name) => ({ name, arch: 'amd64' as const })),
    );
    expect(got.size).toBe(names.length);
    expect(got.get(resolvedKey('etcd', 'amd64'))!.file).toBe(join(out, 'amd64/bin/etcd'));
    expect(existsSync(join(dir, 'empty-cache', 'blobs'))).toBe(false);
  });

  it('leaves no manifest when a download fails half-way, so the folder is not taken for a bundle', async () => {
    const { dir, server, config } = await upstream(['amd64']);
    server.routes.delete(`/flannel-io/flannel/releases/download/v0.28.9/flanneld-amd64`);
    const out = join(dir, 'bundle');
    await expect(createBundle({ config, arches: ['amd64'], out, cacheDir: join(dir, 'cache') })).rejects.toThrow(/flanneld-amd64 does not exist \(HTTP 404\)/);
    expect(existsSync(join(out, MANIFEST_FILE))).toBe(false);
  });

  it('refuses an unknown architecture', async () => {
    const run = await runCli(['bundle', 'create', '--out', join(tmp(), 'b'), '--arch', 'amd64,s390x']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown architecture s390x');
  });
});
