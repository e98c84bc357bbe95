import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bundledImage, bundleBinaries, createBundle } from '../../src/artifacts/bundle.js';
import { ArtifactCache } from '../../src/artifacts/cache.js';
import { ArtifactLock } from '../../src/artifacts/lock.js';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { resolveBinaries, resolvedKey } from '../../src/artifacts/resolve.js';
import { loadClusterConfig } from '../../src/config/cluster-config.js';
import { digestOf } from '../../src/artifacts/image-archive.js';
import { pullImage } from '../../src/artifacts/oci.js';
import { ArtifactError, BundleError } from '../../src/errors.js';
import { nodeImages, type ImageRef } from '../../src/upstream/index.js';
import { runCli } from '../support/cli.js';
import { chunked, deadUrl, useArtifactServers, type Route } from '../support/artifact-server.js';
import { fakeBinary, fakeRegistry, fakeUpstream } from '../support/fake-upstream.js';
import { expectFitsSchemaFile } from '../support/report-schemas.js';
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
      // Releases kubestrap pins no checksum for: a fake upstream cannot serve a pinned one.
      [
        `KUBE_VERSION=v1.37.1`,
        'ETCD_VERSION=v3.6.13',
        `K8S_DOWNLOAD_URL=${server.url}`,
        `GITHUB_DOWNLOAD_URL=${server.url}`,
        `DOCKER_DOWNLOAD_URL=${server.url}`,
        `K8S_IMAGE_REGISTRY=${registry}`,
        `HEALTH_CHECK_IMAGE=${registry}/e2e-test-images/busybox:1.36.1-1`,
        '',
      ].join('\n'),
    );
    const config = loadClusterConfig(configFile);
    const routes = await fakeUpstream(server.url, config.versions, arches);
    const images = nodeImages(config.versions.kubernetes, registry, config.values.HEALTH_CHECK_IMAGE!);
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
    expect(
      manifest.artifacts
        .filter((a) => a.kind === 'image')
        .map((a) => `${a.arch} ${a.image}`)
        .sort(),
    ).toEqual([
      `amd64 ${new URL(server.url).host}/coredns/coredns:v1.14.4`,
      `amd64 ${new URL(server.url).host}/e2e-test-images/busybox:1.36.1-1`,
      `amd64 ${new URL(server.url).host}/pause:3.10.1`,
      `arm64 ${new URL(server.url).host}/coredns/coredns:v1.14.4`,
      `arm64 ${new URL(server.url).host}/e2e-test-images/busybox:1.36.1-1`,
      `arm64 ${new URL(server.url).host}/pause:3.10.1`,
    ]);
    expect(manifest.createdFor).toMatchObject({ kubernetes: 'v1.37.1', etcd: 'v3.6.13', containerd: 'v2.3.0' });
    expect(bundleBinaries(config)).toEqual(expect.arrayContaining(['containerd', 'runc', 'dockerd', 'etcdutl', 'flannel', 'portmap']));
  });

  it('--output json: the bundle folder and its manifest, as schemas/bundle-create.schema.json says', async () => {
    const { dir, configFile } = await upstream(['amd64']);
    const out = join(dir, 'bundle');
    const env = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = join(dir, 'cache');
    try {
      const run = await runCli(['bundle', 'create', '--out', out, '-c', configFile, '--output', 'json']);
      expect(run.code, run.stderr).toBe(0);
      expectFitsSchemaFile('bundle-create', run.stdout);
      const report = JSON.parse(run.stdout) as { ok: boolean; out: string; totalBytes: number; manifest: unknown };
      const { manifest } = loadManifest(join(out, MANIFEST_FILE));
      expect(report).toEqual({ ok: true, out, totalBytes: manifest.artifacts.reduce((n, a) => n + (a.size ?? 0), 0), manifest });
      expect(report.totalBytes).toBeGreaterThan(0);
    } finally {
      if (env === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = env;
    }
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
        warn: () => undefined,
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

  it("never writes through a link planted in the bundle folder: each file is made anew, the links' targets stay as they were", async () => {
    const { dir, config } = await upstream(['amd64']);
    const out = join(dir, 'bundle');
    mkdirSync(join(out, 'amd64', 'bin'), { recursive: true });
    mkdirSync(join(out, 'amd64', 'images'), { recursive: true });
    const victim = join(dir, 'victim');
    writeFileSync(victim, "the user's own file\n");
    symlinkSync(victim, join(out, 'amd64', 'images', 'pause-3.10.1.tar'));
    symlinkSync(victim, join(out, 'amd64', 'bin', 'kubelet'));
    symlinkSync(join(dir, 'created-through-a-link'), join(out, MANIFEST_FILE));
    await createBundle({ config, arches: ['amd64'], out, cacheDir: join(dir, 'cache') });
    expect(readFileSync(victim, 'utf8')).toBe("the user's own file\n");
    expect(existsSync(join(dir, 'created-through-a-link'))).toBe(false);
    for (const file of ['amd64/images/pause-3.10.1.tar', 'amd64/bin/kubelet', MANIFEST_FILE]) expect(lstatSync(join(out, file)).isFile()).toBe(true);
    expect(loadManifest(join(out, MANIFEST_FILE)).manifest.artifacts.length).toBeGreaterThan(0);
    expect(readdirSync(join(out, 'amd64', 'images')).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('refuses a bundle folder that is a link, and writes nothing there', async () => {
    const { dir, config } = await upstream(['amd64']);
    const out = join(dir, 'bundle');
    const elsewhere = join(dir, 'usr-local-bin');
    mkdirSync(join(out, 'amd64'), { recursive: true });
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(out, 'amd64', 'bin'));
    const err = (await createBundle({ config, arches: ['amd64'], out, cacheDir: join(dir, 'cache') }).catch((e: unknown) => e)) as BundleError;
    expect(err).toBeInstanceOf(BundleError);
    expect(err.message).toBe(`${join(out, 'amd64', 'bin')} is a symbolic link; bundle create writes only into real folders`);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  describe('a registry that serves hostile or oversized answers', () => {
    const image: ImageRef = { name: 'pause', registry: 'registry.test', repository: 'pause', tag: '3.10.1', ref: 'registry.test/pause:3.10.1' };

    /** Routes for `image` with one layer, whose descriptor the test may spoil. */
    function registry(layer: Buffer, descriptor: (d: { digest: string; size: number }) => { digest: string; size: number } = (d) => d) {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
      const layerDescriptor = descriptor({ digest: digestOf(layer), size: layer.length });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layerDescriptor }],
        }),
      );
      return {
        '/v2/pause/manifests/3.10.1': manifest,
        [`/v2/pause/blobs/${digestOf(config)}`]: config,
        [`/v2/pause/blobs/${layerDescriptor.digest}`]: layer,
      } as Record<string, Route>;
    }

    async function pull(routes: Record<string, Route>, cacheDir = join(tmp(), 'cache')) {
      const server = await serve(routes);
      const local = { ...image, registry: new URL(server.url).host, ref: `${new URL(server.url).host}/pause:3.10.1` };
      const dest = join(tmp(), 'pause.tar');
      const cache = new ArtifactCache(cacheDir);
      const result = await pullImage(local, 'amd64', dest, { cache, origin: { property: 'K8S_IMAGE_REGISTRY', value: local.registry } }).catch((e: unknown) => e);
      return { result, dest, cache, server };
    }

    it('refuses a layer digest that is not sha256:<64 hex>, so that no controller file is copied into the bundle', async () => {
      const dir = tmp();
      mkdirSync(join(dir, 'pki'));
      writeFileSync(join(dir, 'pki', 'ca.key'), '-----BEGIN PRIVATE KEY----- the CA key');
      const { result, dest } = await pull(
        registry(Buffer.from('layer'), (d) => ({ ...d, digest: 'sha256:../../pki/ca.key' })),
        join(dir, 'cache'),
      );
      expect(result).toBeInstanceOf(ArtifactError);
      expect((result as ArtifactError).message).toBe('"sha256:../../pki/ca.key" is not a sha256 digest (sha256: and 64 lower-case hex digits)');
      expect(existsSync(dest)).toBe(false);
    });

    it('hashes a cached layer again as it goes into the archive, and refuses one that changed', async () => {
      const layer = gzipSync(Buffer.from('the layer'));
      const cacheDir = join(tmp(), 'cache');
      const first = await pull(registry(layer), cacheDir);
      expect(first.result).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
      const blob = first.cache.blobPath(sha256(layer));
      chmodSync(blob, 0o644);
      writeFileSync(blob, gzipSync(Buffer.from('the LAYER')).subarray(0, layer.length));
      chmodSync(blob, 0o444);
      const second = await pull(registry(layer), cacheDir);
      expect(second.result).toBeInstanceOf(ArtifactError);
      expect((second.result as ArtifactError).message).toMatch(new RegExp(`^${blob} is not .*/pause:3.10.1's layer sha256:${sha256(layer)}: it holds sha256 [0-9a-f]{64}$`));
      // The archive of the first pull is left as it was, and no half-written one beside it.
      expect(sha256(readFileSync(second.dest))).toBe((first.result as { sha256: string }).sha256);
      expect(readdirSync(join(second.dest, '..')).filter((f) => f.includes('pause.tar'))).toEqual(['pause.tar']);
    });

    it('stops a layer at the size its descriptor gives, and a manifest at a few MiB, keeping nothing', async () => {
      const layer = gzipSync(Buffer.from('the layer'));
      const longer = await pull({ ...registry(layer, (d) => ({ ...d, size: d.size - 5 })) });
      expect((longer.result as ArtifactError).message).toMatch(/sends more than the \d+ bytes its descriptor gives; nothing of it was kept$/);
      expect(readdirSync(join(longer.cache.root, 'tmp'))).toEqual([]);

      const huge = await pull({ '/v2/pause/manifests/3.10.1': chunked(Buffer.alloc(5 * 1024 * 1024, ' ')) });
      expect((huge.result as ArtifactError).message).toMatch(/\/manifests\/3\.10\.1 is more than 4 MiB, more than kubestrap's limit for such a file \(4 MiB\); nothing of it was kept$/);
    });
  });

  it('refuses an unknown architecture', async () => {
    const run = await runCli(['bundle', 'create', '--out', join(tmp(), 'b'), '--arch', 'amd64,s390x']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown architecture s390x');
  });
});
