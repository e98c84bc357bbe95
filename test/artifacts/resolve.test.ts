import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArtifactCache } from '../../src/artifacts/cache.js';
import { resetProxySettings } from '../../src/artifacts/download.js';
import { ArtifactLock } from '../../src/artifacts/lock.js';
import { MANIFEST_FILE, loadManifest } from '../../src/artifacts/manifest.js';
import { resolveBinaries, resolvedKey, type BinaryRequest, type ResolveContext } from '../../src/artifacts/resolve.js';
import { ArtifactError, BundleError } from '../../src/errors.js';
import { DEFAULT_VERSIONS, parseVersion, type ProjectVersions } from '../../src/upstream/index.js';
import { deadUrl, startProxy, tgz, truncated, useArtifactServers, type ArtifactServer } from '../support/artifact-server.js';
import { useTempDir } from '../support/tmp.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function versions(over: Partial<Record<keyof ProjectVersions, string>> = {}): ProjectVersions {
  return Object.fromEntries(Object.entries({ ...DEFAULT_VERSIONS, ...over }).map(([k, v]) => [k, parseVersion(v)!])) as ProjectVersions;
}

describe('resolveBinaries: verified downloads into the shared cache', () => {
  const tmp = useTempDir();
  const serve = useArtifactServers();
  const notices: string[] = [];
  afterEach(() => {
    notices.length = 0;
    delete process.env.HTTP_PROXY;
    delete process.env.http_proxy;
    resetProxySettings();
  });

  function context(server: ArtifactServer | { url: string }, over: Partial<ResolveContext> = {}, v = versions({ kubernetes: 'v1.37.1' })): ResolveContext {
    const dir = tmp();
    mkdirSync(join(dir, 'state'), { recursive: true });
    return {
      cache: new ArtifactCache(join(dir, 'cache')),
      lock: ArtifactLock.open(join(dir, 'state')),
      versions: v,
      bases: { K8S_DOWNLOAD_URL: server.url, GITHUB_DOWNLOAD_URL: server.url, DOCKER_DOWNLOAD_URL: server.url },
      notice: (m) => notices.push(m),
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
    expect(notices).toEqual([]);
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
    expect(err.message).toMatch(/checksum mismatch for .*\/v1\.36\.0\/kubernetes-server-linux-amd64\.tar\.gz: expected sha512 1c64da92575451c2.* \(pinned in kubestrap from the upstream CHANGELOG\), got [0-9a-f]{128}/);
  });

  it('unpacks the binaries of a release archive once, checked against the project\'s SHA256SUMS', async () => {
    const archive = await tgz({ 'etcd-v3.6.16-linux-amd64/etcd': 'etcd!', 'etcd-v3.6.16-linux-amd64/etcdctl': 'etcdctl!', 'etcd-v3.6.16-linux-amd64/etcdutl': 'etcdutl!', 'etcd-v3.6.16-linux-amd64/README.md': 'hi' });
    const server = await serve({
      '/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz': archive,
      '/etcd-io/etcd/releases/download/v3.6.16/SHA256SUMS': `${sha256('other')}  etcd-v3.6.16-linux-arm64.tar.gz\n${sha256(archive)}  etcd-v3.6.16-linux-amd64.tar.gz\n`,
    });
    const ctx = context(server);
    const got = await resolveBinaries(ctx, [{ name: 'etcd', arch: 'amd64' }, { name: 'etcdctl', arch: 'amd64' }]);
    expect(readFileSync(got.get(resolvedKey('etcd', 'amd64'))!.file, 'utf8')).toBe('etcd!');
    expect(readFileSync(got.get(resolvedKey('etcdctl', 'amd64'))!.file, 'utf8')).toBe('etcdctl!');
    expect(server.requests.filter((r) => r.endsWith('.tar.gz'))).toHaveLength(1);
  });

  it('pins the first download where nobody publishes a checksum, says so, and holds later downloads to it', async () => {
    const flanneld = Buffer.from('flanneld v0.28.9');
    const path = '/flannel-io/flannel/releases/download/v0.28.9/flanneld-amd64';
    const server = await serve({ [path]: flanneld });
    const ctx = context(server);
    await resolveBinaries(ctx, [{ name: 'flanneld', arch: 'amd64' }]);
    expect(notices).toEqual([expect.stringMatching(new RegExp(`no checksum is published for .*flanneld-amd64; pinned sha256 ${sha256(flanneld)} in .*artifacts.lock.json on this first download`))]);

    // Another machine (empty cache), same cluster state: the mirror now serves other bytes.
    server.routes.set(path, Buffer.from('flanneld v0.28.9 with a backdoor'));
    const fresh = { ...ctx, cache: new ArtifactCache(join(tmp(), 'other-cache')), lock: ArtifactLock.open(join(ctx.lock.file, '..')) };
    const err = (await resolveBinaries(fresh, [{ name: 'flanneld', arch: 'amd64' }]).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toContain(`expected sha256 ${sha256(flanneld)} (pinned in ${ctx.lock.file})`);
  });

  it('names the URL and the property for a 404', async () => {
    const server = await serve({});
    const err = (await resolveBinaries(context(server), kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(err).toBeInstanceOf(ArtifactError);
    expect(err.message).toBe(`${server.url}/release/v1.37.1/bin/linux/amd64/kubelet.sha256 does not exist (HTTP 404)`.replace('kubelet.sha256 does not exist', 'kubelet does not exist'));
    expect(err.hint).toContain(`K8S_DOWNLOAD_URL (now ${server.url})`);
  });

  it('names the URL for a body cut short, and keeps nothing of it', async () => {
    const server = await serve({ ...kubeletTree(), '/release/v1.37.1/bin/linux/amd64/kubelet': truncated(KUBELET.subarray(0, 5000), KUBELET.length) });
    const ctx = context(server);
    const err = (await resolveBinaries(ctx, kubelet).catch((e: unknown) => e)) as ArtifactError;
    expect(err.message).toMatch(new RegExp(`^the download of ${server.url}/release/v1.37.1/bin/linux/amd64/kubelet (broke off after \\d+ of ${KUBELET.length} bytes|ended after \\d+ of ${KUBELET.length} bytes)`));
    expect(err.hint).toContain('K8S_DOWNLOAD_URL');
    expect(readdirSync(join(ctx.cache.root, 'tmp'))).toEqual([]);
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
    function bundle(files: Record<string, string>, entries: Array<{ component: string; version: string; file: string; sha256?: string }>): string {
      const dir = join(tmp(), 'bundle');
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
