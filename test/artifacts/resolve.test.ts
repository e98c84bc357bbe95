import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArtifactCache } from '../../src/artifacts/cache.js';
import { resetProxySettings } from '../../src/artifacts/download.js';
import { ArtifactLock } from '../../src/artifacts/lock.js';
import { MANIFEST_FILE, loadManifest } from '../../src/artifacts/manifest.js';
import { resolveBinaries, resolvedKey, type BinaryRequest, type ResolveContext } from '../../src/artifacts/resolve.js';
import { ArtifactError, BundleError, type Warning } from '../../src/errors.js';
import { defaultProjectVersions, parseProjectVersion, type Project, type ProjectVersions } from '../../src/upstream/index.js';
import { chunked, deadUrl, startProxy, tgz, truncated, useArtifactServers, type ArtifactServer } from '../support/artifact-server.js';
import { fakeUpstream } from '../support/fake-upstream.js';
import { useTempDir } from '../support/tmp.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function versions(over: Partial<Record<keyof ProjectVersions, string>> = {}): ProjectVersions {
  return { ...defaultProjectVersions(), ...Object.fromEntries(Object.entries(over).map(([k, v]) => [k, parseProjectVersion(k as Project, v)!])) };
}

/** Releases kubestrap pins no checksum for: a fake upstream can serve them (a pinned one it cannot fake). */
const UNPINNED = { kubernetes: 'v1.37.1', etcd: 'v3.6.13' } as const;

describe('resolveBinaries: verified downloads into the shared cache', () => {
  const tmp = useTempDir();
  const serve = useArtifactServers();
  const warnings: Warning[] = [];
  afterEach(() => {
    warnings.length = 0;
    delete process.env.HTTP_PROXY;
    delete process.env.http_proxy;
    resetProxySettings();
  });

  function context(server: ArtifactServer | { url: string }, over: Partial<ResolveContext> = {}, v = versions(UNPINNED)): ResolveContext {
    const dir = tmp();
    mkdirSync(join(dir, 'state'), { recursive: true });
    return {
      cache: new ArtifactCache(join(dir, 'cache')),
      lock: ArtifactLock.open(join(dir, 'state')),
      versions: v,
      bases: { K8S_DOWNLOAD_URL: server.url, GITHUB_DOWNLOAD_URL: server.url, DOCKER_DOWNLOAD_URL: server.url },
      warn: (w) => warnings.push(w),
      ...over,
    };
  }

  const KUBELET = Buffer.from('kubelet 1.37.1 amd64 '.repeat(1000));
  const kubeletTree = (body = KUBELET, published = sha256(body)) => ({
    '/release/v1.37.1/bin/linux/amd64/kubelet': body,
    '/release/v1.37.1/bin/linux/amd64/kubelet.sha256': `${published}\n`,
  });
  const kubelet: BinaryRequest[] = [{ name: 'kubelet', arch: 'amd64' }];

  it('downloads a binary, checks it against the checksum published next to it, and pins it', async () => {
    const server = await serve(kubeletTree());
    const ctx = context(server);
    const got = (await resolveBinaries(ctx, kubelet)).get(resolvedKey('kubelet', 'amd64'))!;
    expect(got).toMatchObject({ name: 'kubelet', version: 'v1.37.1', sha256: sha256(KUBELET), size: KUBELET.length });
    expect(readFileSync(got.file).equals(KUBELET)).toBe(true);
    expect(got.file).toBe(ctx.cache.blobPath(sha256(KUBELET)));
    const lock = JSON.parse(readFileSync(ctx.lock.file, 'utf8')) as { downloads: Record<string, { checkedBy: string }> };
    expect(lock.downloads['kubernetes v1.37.1 linux/amd64 kubelet']).toMatchObject({ checkedBy: 'upstream', from: `${server.url}/release/v1.37.1/bin/linux/amd64/kubelet` });
    expect(warnings.filter((w) => !w.message.includes('plain HTTP'))).toEqual([]);
  });

  it('uses the cache without any request once the lock pins the binary', async () => {
    const server = await serve(kubeletTree());
    const ctx = context(server);
    await resolveBinaries(ctx, kubelet);
    server.requests.length = 0;
    const again = await resolveBinaries({ ...ctx, lock: ArtifactLock.open(join(ctx.lock.file, '..')) }, kubelet);
    expect(again.get(resolvedKey('kubelet', 'amd64'))!.sha256).toBe(sha256(KUBELET));
    expect(server.requests).toEqual([]);
  });

  it('refuses a tampered file: deletes it and names the URL, the expected and the actual checksum', async () => {
    const tampered = Buffer.concat([KUBELET, Buffer.from('evil')]);
    const server = await serve(kubeletTree(tampered, sha256(KUBELET)));
    const ctx = context(server);
    const err = await resolveBinaries(ctx, kubelet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactError);
    const e = err as ArtifactError;
    expect(e.where()).toBe(`${server.url}/release/v1.37.1/bin/linux/amd64/kubelet`);
    expect(e.message).toContain(`expected sha256 ${sha256(KUBELET)} (published at ${server.url}/release/v1.37.1/bin/linux/amd64/kubelet.sha256), got ${sha256(tampered)}; the download was deleted`);
    expect(e.hint).toContain('K8S_DOWNLOAD_URL');
    expect(existsSync(ctx.cache.blobPath(sha256(tampered)))).toBe(false);
    expect(readdirSync(join(ctx.cache.root, 'tmp'))).toEqual([]);
    expect(existsSync(ctx.lock.file)).toBe(false);
  });

  it('checks a pinned release tarball against the CHANGELOG checksum kubestrap carries', async () => {
    const fake = await tgz({ 'kubernetes/server/bin/kubelet': 'not the real kubelet' });
    const server = await serve({ '/v1.36.0/kubernetes-server-linux-amd64.tar.gz': fake, '/v1.36.0/kubernetes-server-linux-amd64.tar.gz.sha256': sha256(fake) });
    const err = (await resolveBinaries(context(server, {}, versions()), kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toMatch(
      /checksum mismatch for .*\/v1\.36\.0\/kubernetes-server-linux-amd64\.tar\.gz: expected sha512 1c64da92575451c2.* \(pinned in kubestrap from the upstream CHANGELOG\), got [0-9a-f]{128}/,
    );
  });

  it("checks the default etcd against the SHA256SUMS checksum kubestrap carries, whatever the mirror's SHA256SUMS says", async () => {
    const dir = 'etcd-v3.6.14-linux-amd64';
    const fake = await tgz({ [`${dir}/etcd`]: 'not the real etcd', [`${dir}/etcdctl`]: 'x', [`${dir}/etcdutl`]: 'x' });
    const server = await serve({ [`/etcd-io/etcd/releases/download/v3.6.14/${dir}.tar.gz`]: fake, '/etcd-io/etcd/releases/download/v3.6.14/SHA256SUMS': `${sha256(fake)}  ${dir}.tar.gz\n` });
    const err = (await resolveBinaries(context(server, {}, versions()), [{ name: 'etcd', arch: 'amd64' }]).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toMatch(/checksum mismatch for .*etcd-v3\.6\.14-linux-amd64\.tar\.gz: expected sha256 ffe840ff9295808e.* \(pinned in kubestrap from the release's SHA256SUMS\)/);
  });

  it("unpacks the binaries of a release archive once, checked against the project's SHA256SUMS", async () => {
    const archive = await tgz({
      'etcd-v3.6.13-linux-amd64/etcd': 'etcd!',
      'etcd-v3.6.13-linux-amd64/etcdctl': 'etcdctl!',
      'etcd-v3.6.13-linux-amd64/etcdutl': 'etcdutl!',
      'etcd-v3.6.13-linux-amd64/README.md': 'hi',
    });
    const server = await serve({
      '/etcd-io/etcd/releases/download/v3.6.13/etcd-v3.6.13-linux-amd64.tar.gz': archive,
      '/etcd-io/etcd/releases/download/v3.6.13/SHA256SUMS': `${sha256('other')}  etcd-v3.6.13-linux-arm64.tar.gz\n${sha256(archive)}  etcd-v3.6.13-linux-amd64.tar.gz\n`,
    });
    const ctx = context(server);
    const got = await resolveBinaries(ctx, [
      { name: 'etcd', arch: 'amd64' },
      { name: 'etcdctl', arch: 'amd64' },
    ]);
    expect(readFileSync(got.get(resolvedKey('etcd', 'amd64'))!.file, 'utf8')).toBe('etcd!');
    expect(readFileSync(got.get(resolvedKey('etcdctl', 'amd64'))!.file, 'utf8')).toBe('etcdctl!');
    expect(server.requests.filter((r) => r.endsWith('.tar.gz'))).toHaveLength(1);
  });

  it('pins the first download only where upstream publishes no checksum, in a warning, and holds later downloads to it', async () => {
    const flanneld = Buffer.from('flanneld v0.28.9');
    const path = '/flannel-io/flannel/releases/download/v0.28.9/flanneld-amd64';
    const server = await serve({ [path]: flanneld });
    const ctx = context(server);
    await resolveBinaries(ctx, [{ name: 'flanneld', arch: 'amd64' }]);
    expect(warnings.filter((w) => !w.message.includes('plain HTTP'))).toEqual([
      {
        where: 'flannel v0.28.9 linux/amd64 flanneld-amd64',
        message: expect.stringMatching(
          new RegExp(`^upstream publishes no checksum for .*flanneld-amd64; its sha256 ${sha256(flanneld)} was pinned in .*artifacts.lock.json on this first download`),
        ) as unknown,
        hint: expect.stringContaining('compare that sha256') as unknown,
      },
    ]);

    // Another machine (empty cache), same cluster state: the mirror now serves other bytes (as many).
    server.routes.set(path, Buffer.from('flanneld backdoor'.slice(0, flanneld.length)));
    const fresh = { ...ctx, cache: new ArtifactCache(join(tmp(), 'other-cache')), lock: ArtifactLock.open(join(ctx.lock.file, '..')) };
    const err = (await resolveBinaries(fresh, [{ name: 'flanneld', arch: 'amd64' }]).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toContain(`expected sha256 ${sha256(flanneld)} (pinned in ${ctx.lock.file})`);
  });

  it.each([
    ['kubelet', 'v1.37.1', '/release/v1.37.1/bin/linux/amd64/kubelet.sha256', 'kubelet'],
    ['etcd', 'v3.6.13', '/etcd-io/etcd/releases/download/v3.6.13/SHA256SUMS', 'etcd-v3.6.13-linux-amd64.tar.gz'],
    ['containerd', 'v2.3.0', '/containerd/containerd/releases/download/v2.3.0/containerd-static-2.3.0-linux-amd64.tar.gz.sha256sum', 'containerd-static-2.3.0-linux-amd64.tar.gz'],
    ['runc', 'v1.3.3', '/opencontainers/runc/releases/download/v1.3.3/runc.sha256sum', 'runc.amd64'],
    ['bridge', 'v1.9.1', '/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256', 'cni-plugins-linux-amd64-v1.9.1.tgz'],
  ] as const)('refuses %s %s from a mirror that lacks the checksum upstream publishes (%s), and pins nothing', async (name, _version, checksumPath, entry) => {
    const server = await serve({});
    const ctx = context(server);
    for (const [path, route] of Object.entries(await fakeUpstream(server.url, ctx.versions, ['amd64']))) server.routes.set(path, route);
    server.routes.delete(checksumPath);
    const err = (await resolveBinaries(ctx, [{ name, arch: 'amd64' }]).catch((e: unknown) => e)) as ArtifactError;
    expect(err).toBeInstanceOf(ArtifactError);
    expect(err.where()).toBe(`${server.url}${checksumPath}`);
    expect(err.message).toMatch(
      new RegExp(`^${server.url}${checksumPath} does not exist \\(HTTP 404\\), but upstream publishes the checksum of ${entry.replaceAll('.', '\\.')} there: without it .* cannot be checked$`),
    );
    expect(err.hint).toContain("copy upstream's checksum file to the mirror");
    expect(server.requests).toEqual([checksumPath]);
    expect(existsSync(ctx.lock.file)).toBe(false);
    expect(warnings.filter((w) => w.message.includes('pinned'))).toEqual([]);
  });

  it('names the URL and the property for a 404', async () => {
    const server = await serve({ '/release/v1.37.1/bin/linux/amd64/kubelet.sha256': `${sha256(KUBELET)}\n` });
    const err = (await resolveBinaries(context(server), kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(err).toBeInstanceOf(ArtifactError);
    expect(err.message).toBe(`${server.url}/release/v1.37.1/bin/linux/amd64/kubelet does not exist (HTTP 404)`);
    expect(err.hint).toContain(`K8S_DOWNLOAD_URL (now ${server.url})`);
  });

  it('warns, once per property, that a plain-HTTP mirror can change what it serves', async () => {
    const server = await serve(kubeletTree());
    await resolveBinaries(context(server), kubelet);
    expect(warnings).toEqual([
      {
        where: 'K8S_DOWNLOAD_URL',
        message: `${server.url} is plain HTTP: whoever is on the way can change what is downloaded from it, checksum files included`,
        hint: expect.stringContaining('use an https:// mirror') as unknown,
      },
    ]);
  });

  it('names the URL for a body cut short, and keeps nothing of it', async () => {
    const server = await serve({ ...kubeletTree(), '/release/v1.37.1/bin/linux/amd64/kubelet': truncated(KUBELET.subarray(0, 5000), KUBELET.length) });
    const ctx = context(server);
    const err = (await resolveBinaries(ctx, kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toMatch(
      new RegExp(`^the download of ${server.url}/release/v1.37.1/bin/linux/amd64/kubelet (broke off after \\d+ of ${KUBELET.length} bytes|ended after \\d+ of ${KUBELET.length} bytes)`),
    );
    expect(err.hint).toContain('K8S_DOWNLOAD_URL');
    expect(readdirSync(join(ctx.cache.root, 'tmp'))).toEqual([]);
  });

  it('stops a download at the size the lock file pins, announced or not, and keeps nothing of it', async () => {
    const server = await serve(kubeletTree());
    const ctx = context(server);
    await resolveBinaries(ctx, kubelet);
    // Another machine (empty cache), same lock: the mirror now sends more than the pinned size.
    const bigger = Buffer.concat([KUBELET, Buffer.alloc(64 * 1024, 'x')]);
    const fresh = () => ({ ...ctx, cache: new ArtifactCache(join(tmp(), `cache-${Math.random()}`)), lock: ArtifactLock.open(join(ctx.lock.file, '..')) });
    for (const route of [bigger, chunked(bigger)]) {
      server.routes.set('/release/v1.37.1/bin/linux/amd64/kubelet', route);
      const other = fresh();
      const err = (await resolveBinaries(other, kubelet).catch((e: unknown) => e)) as ArtifactError;
      expect(err).toBeInstanceOf(ArtifactError);
      expect(err.message).toMatch(
        new RegExp(`/kubelet is (\\d+ bytes|more than ${KUBELET.length} bytes), more than the size pinned in .*artifacts.lock.json \\(${KUBELET.length} bytes\\); nothing of it was kept$`),
      );
      expect(readdirSync(join(other.cache.root, 'tmp'))).toEqual([]);
      expect(existsSync(join(other.cache.root, 'blobs'))).toBe(false);
    }
  });

  it("stops a download, and a checksum file, at kubestrap's limits when nothing gives a size", async () => {
    const body = Buffer.alloc(300_000, 'k');
    const server = await serve({ '/release/v1.37.1/bin/linux/amd64/kubelet': chunked(body), '/release/v1.37.1/bin/linux/amd64/kubelet.sha256': `${sha256(body)}\n` });
    const ctx = context(server, { limits: { download: 100_000 } });
    const err = (await resolveBinaries(ctx, kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toMatch(/\/kubelet is more than 100000 bytes, more than kubestrap's limit for a download \(100000 bytes\); nothing of it was kept$/);
    expect(readdirSync(join(ctx.cache.root, 'tmp'))).toEqual([]);

    server.routes.set('/release/v1.37.1/bin/linux/amd64/kubelet.sha256', chunked(Buffer.alloc(5 * 1024 * 1024, 'a')));
    const sums = (await resolveBinaries(context(server), kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(sums.message).toMatch(/\/kubelet\.sha256 is more than 4 MiB, more than kubestrap's limit for a checksum file \(4 MiB\); nothing of it was kept$/);
  });

  it('refuses an archive that expands past its limits, whole or one member, and leaves no partial file in the cache', async () => {
    const dir = 'etcd-v3.6.13-linux-amd64';
    const bomb = await tgz({ [`${dir}/README.md`]: Buffer.alloc(2_000_000), [`${dir}/etcd`]: 'etcd!', [`${dir}/etcdctl`]: 'etcdctl!', [`${dir}/etcdutl`]: 'etcdutl!' });
    const fat = await tgz({ [`${dir}/etcd`]: Buffer.alloc(600_000), [`${dir}/etcdctl`]: 'etcdctl!', [`${dir}/etcdutl`]: 'etcdutl!' });
    for (const [archive, limits, what] of [
      [bomb, { expanded: 1_000_000 }, 'expands to more than'],
      [fat, { member: 500_000 }, `holds ${dir}/etcd, which is more than`],
    ] as const) {
      const server = await serve({
        [`/etcd-io/etcd/releases/download/v3.6.13/${dir}.tar.gz`]: archive,
        '/etcd-io/etcd/releases/download/v3.6.13/SHA256SUMS': `${sha256(archive)}  ${dir}.tar.gz\n`,
      });
      const ctx = context(server, { limits, cache: new ArtifactCache(join(tmp(), `cache-${what.length}`)) });
      const err = (await resolveBinaries(ctx, [{ name: 'etcd', arch: 'amd64' }]).catch((e: unknown) => e)) as ArtifactError;
      expect(err).toBeInstanceOf(ArtifactError);
      expect(err.message).toContain(`${dir}.tar.gz ${what} `);
      expect(readdirSync(join(ctx.cache.root, 'tmp'))).toEqual([]);
      // Only the checked download itself is in the cache.
      expect(readdirSync(join(ctx.cache.root, 'blobs'))).toEqual([sha256(archive)]);
    }
  });

  it('names the URL and the property for a dead mirror', async () => {
    const dead = await deadUrl();
    const err = (await resolveBinaries(context({ url: dead }), [{ name: 'flanneld', arch: 'amd64' }]).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toBe(`cannot download ${dead}/flannel-io/flannel/releases/download/v0.28.9/flanneld-amd64: ECONNREFUSED`);
    expect(err.hint).toContain(`GITHUB_DOWNLOAD_URL (now ${dead})`);
  });

  it('goes through HTTP_PROXY', async () => {
    const server = await serve(kubeletTree());
    const proxy = await startProxy();
    try {
      process.env.HTTP_PROXY = proxy.url;
      resetProxySettings();
      const port = new URL(server.url).port;
      // Only the proxy can reach this name.
      await resolveBinaries(context({ url: `http://artifacts.test:${port}` }), kubelet);
      expect(proxy.forwarded.length).toBeGreaterThan(0);
      expect(new Set(proxy.forwarded)).toEqual(new Set([`artifacts.test:${port}`]));
      expect(server.requests).toEqual(['/release/v1.37.1/bin/linux/amd64/kubelet.sha256', '/release/v1.37.1/bin/linux/amd64/kubelet']);
    } finally {
      await proxy.close();
    }
  });

  describe('with an offline bundle', () => {
    function bundle(files: Record<string, string>, entries: Array<{ component: string; version: string; file: string; sha256?: string }>, name = 'bundle'): string {
      const dir = join(tmp(), name);
      mkdirSync(dir, { recursive: true });
      for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
      const artifacts = entries.map((e) => ({ arch: 'amd64', ...e, sha256: e.sha256 ?? sha256(files[e.file] ?? '') }));
      writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ artifacts }));
      return dir;
    }

    it('takes every binary from the bundle and never touches the network', async () => {
      const dir = bundle({ kubelet: 'k', 'kube-proxy': 'p' }, [
        { component: 'kubelet', version: 'v1.37.1', file: 'kubelet' },
        { component: 'kube-proxy', version: 'v1.37.1', file: 'kube-proxy' },
      ]);
      const got = await resolveBinaries(context({ url: 'http://offline.invalid' }, { bundle: loadManifest(join(dir, MANIFEST_FILE)) }), [...kubelet, { name: 'kube-proxy', arch: 'amd64' }]);
      expect(got.get(resolvedKey('kubelet', 'amd64'))!.file).toBe(join(dir, 'kubelet'));
    });

    it('hashes a bundle file again only when it changed since, and then finds the tampering', async () => {
      const dir = bundle({ kubelet: 'k' }, [{ component: 'kubelet', version: 'v1.37.1', file: 'kubelet' }]);
      const ctx = context({ url: 'http://offline.invalid' }, { bundle: loadManifest(join(dir, MANIFEST_FILE)) });
      await resolveBinaries(ctx, kubelet);
      expect(readdirSync(join(ctx.cache.root, 'verified'))).toHaveLength(1);
      writeFileSync(join(dir, 'kubelet'), 'x');
      await expect(resolveBinaries(ctx, kubelet)).rejects.toThrow(`kubelet has sha256 ${sha256('x')}, but the manifest says ${sha256('k')}`);
    });

    const bundled = (dir: string) => loadManifest(join(dir, MANIFEST_FILE));
    const KEY = 'kubelet v1.37.1 linux/amd64';

    it("refuses a bundle whose file is not what the cluster's lock file pins, naming the file, the pin and both hashes", async () => {
      // The cluster was set up from downloads: its lock file pins upstream's kubelet.
      const server = await serve(kubeletTree());
      const ctx = context(server);
      await resolveBinaries(ctx, kubelet);
      // A bundle whose manifest vouches for its own, other kubelet.
      const dir = bundle({ kubelet: 'other kubelet' }, [{ component: 'kubelet', version: 'v1.37.1', file: 'kubelet' }]);
      const err = (await resolveBinaries({ ...ctx, lock: ArtifactLock.open(join(ctx.lock.file, '..')), bundle: bundled(dir) }, kubelet).catch((e: unknown) => e)) as BundleError;
      expect(err).toBeInstanceOf(BundleError);
      expect(err.message).toContain(
        `${join(dir, 'kubelet')} (${KEY}) has sha256 ${sha256('other kubelet')}, as the bundle's manifest says, but the cluster's lock file ${ctx.lock.file} pinned ${sha256(KUBELET)}`,
      );
      expect(err.message).toContain(
        `fix: the bundle holds other bytes than the ones this cluster was set up with: use a bundle made from the pinned files, or, if you trust this bundle's, delete the entry "${KEY}" from ${ctx.lock.file}`,
      );
    });

    it('pins what a bundle brings where the lock file pins nothing yet, so that another bundle cannot swap it', async () => {
      const first = bundle({ kubelet: 'k' }, [{ component: 'kubelet', version: 'v1.37.1', file: 'kubelet' }], 'first');
      const ctx = context({ url: 'http://offline.invalid' }, { bundle: bundled(first) });
      await resolveBinaries(ctx, kubelet);
      const lock = JSON.parse(readFileSync(ctx.lock.file, 'utf8')) as { binaries: Record<string, unknown> };
      expect(lock.binaries[KEY]).toEqual({ sha256: sha256('k'), size: 1, checkedBy: 'manifest', from: join(first, MANIFEST_FILE) });
      // The same bundle again is fine; one with another kubelet (and a manifest to match) is not.
      await resolveBinaries({ ...ctx, lock: ArtifactLock.open(join(ctx.lock.file, '..')) }, kubelet);
      const second = bundle({ kubelet: 'k2' }, [{ component: 'kubelet', version: 'v1.37.1', file: 'kubelet' }], 'second');
      await expect(resolveBinaries({ ...ctx, lock: ArtifactLock.open(join(ctx.lock.file, '..')), bundle: bundled(second) }, kubelet)).rejects.toThrow(
        `but the cluster's lock file ${ctx.lock.file} pinned ${sha256('k')}`,
      );
    });

    it('refuses a file, or a folder, that is a link leading out of the bundle', async () => {
      const outside = join(tmp(), 'pki');
      mkdirSync(outside);
      writeFileSync(join(outside, 'ca.key'), 'the CA key');
      const dir = bundle({}, [{ component: 'kubelet', version: 'v1.37.1', file: 'kubelet', sha256: sha256('the CA key') }]);
      symlinkSync(join(outside, 'ca.key'), join(dir, 'kubelet'));
      const err = (await resolveBinaries(context({ url: 'http://offline.invalid' }, { bundle: bundled(dir) }), kubelet).catch((e: unknown) => e)) as BundleError;
      expect(err).toBeInstanceOf(BundleError);
      expect(err.message).toContain(`kubelet (${KEY}) leads out of ${dir}, to ${join(outside, 'ca.key')}`);

      const linkedDir = bundle({}, [{ component: 'kubelet', version: 'v1.37.1', file: 'amd64/ca.key', sha256: sha256('the CA key') }], 'linked-folder');
      symlinkSync(outside, join(linkedDir, 'amd64'));
      await expect(resolveBinaries(context({ url: 'http://offline.invalid' }, { bundle: bundled(linkedDir) }), kubelet)).rejects.toThrow(
        `amd64/ca.key (${KEY}) leads out of ${linkedDir}, to ${join(outside, 'ca.key')}`,
      );
    });

    it('lists every missing or tampered item at once and says how to complete the bundle', async () => {
      const dir = bundle({ kubelet: 'k-tampered', flanneld: 'f' }, [
        { component: 'kubelet', version: 'v1.37.1', file: 'kubelet', sha256: sha256('k') },
        { component: 'kube-proxy', version: 'v1.37.1', file: 'kube-proxy', sha256: sha256('p') },
      ]);
      const err = (await resolveBinaries(context({ url: 'http://offline.invalid' }, { bundle: loadManifest(join(dir, MANIFEST_FILE)) }), [
        ...kubelet,
        { name: 'kube-proxy', arch: 'amd64' },
        { name: 'flanneld', arch: 'amd64' },
      ]).catch((e: unknown) => e)) as BundleError;
      expect(err).toBeInstanceOf(BundleError);
      expect(err.message).toMatch(/^3 artifacts missing or not as recorded:/);
      expect(err.message).toContain(`kubelet has sha256 ${sha256('k-tampered')}, but the manifest says ${sha256('k')}`);
      expect(err.message).toContain('kube-proxy is missing (listed for kube-proxy v1.37.1 linux/amd64)');
      expect(err.message).toContain('has no flanneld v0.28.9 linux/amd64');
      expect(err.hint).toContain('bootstrap bundle create --out DIR');
    });
  });
});
