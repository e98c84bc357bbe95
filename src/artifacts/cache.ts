import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { spawn } from 'node:child_process';
import type { TransferCodec } from '../engine/transfer-codec.js';
import type { DigestAlgorithm } from '../upstream/index.js';
import { hashFile } from './hash-file.js';

/**
 * The download cache every cluster of the user shares (`$XDG_CACHE_HOME/kubestrap`, else
 * `~/.cache/kubestrap`). Files are stored by their sha256 and were checked against it when they
 * came in, so a cached file is used as is: content addressing means the same bytes are never
 * fetched twice, whichever cluster or mirror asked. Every write goes to a temp file in the cache and
 * is renamed into place, so a reader (another run, another cluster) sees a whole file or none.
 *
 *   blobs/<sha256>            downloaded files and binaries extracted from archives (read-only)
 *   digests/sha512/<hex>      the sha256 of the blob with that sha512 (CHANGELOG-pinned tarballs)
 *   archives/<sha256>.json    members extracted from an archive: name -> sha256 and size
 *   encoded/<codec>/<sha256>  a blob compressed for the wire, made once, sent to every host
 *   verified/<key>.json       sha256 of a file outside the cache (a bundle's, a user manifest's) as
 *                             hashed when it had this size, mtime, ctime and inode
 */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'kubestrap');
}

export interface EncodedFile {
  codec: TransferCodec;
  file: string;
  bytes: number;
}

export type ArchiveIndex = Record<string, { sha256: string; size: number }>;

export class ArtifactCache {
  /** Encodings being made in this process, so two hosts asking at once share one. */
  private readonly encoding = new Map<string, Promise<EncodedFile>>();

  constructor(readonly root: string) {}

  blobPath(sha256: string): string {
    return join(this.root, 'blobs', sha256);
  }

  has(sha256: string): boolean {
    return existsSync(this.blobPath(sha256));
  }

  /** A fresh path for a file being written; same filesystem as the blobs, so it can be renamed in. */
  tempPath(): string {
    const dir = join(this.root, 'tmp');
    mkdirSync(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Moves a checked temp file into place under its sha256. */
  adopt(temp: string, sha256: string): string {
    const dest = this.blobPath(sha256);
    mkdirSync(join(this.root, 'blobs'), { recursive: true });
    chmodSync(temp, 0o444);
    renameSync(temp, dest);
    return dest;
  }

  /** The blob whose other digest (sha512, from a CHANGELOG) is this, if cached. */
  bySecondaryDigest(algorithm: DigestAlgorithm, hex: string): string | undefined {
    if (algorithm === 'sha256') return this.has(hex) ? hex : undefined;
    const file = join(this.root, 'digests', algorithm, hex);
    if (!existsSync(file)) return undefined;
    const sha256 = readFileSync(file, 'utf8').trim();
    return this.has(sha256) ? sha256 : undefined;
  }

  rememberDigest(algorithm: DigestAlgorithm, hex: string, sha256: string): void {
    if (algorithm === 'sha256') return;
    this.writeAtomically(join(this.root, 'digests', algorithm, hex), `${sha256}\n`);
  }

  archiveIndex(sha256: string): ArchiveIndex | undefined {
    const file = join(this.root, 'archives', `${sha256}.json`);
    if (!existsSync(file)) return undefined;
    const index = JSON.parse(readFileSync(file, 'utf8')) as ArchiveIndex;
    return Object.values(index).every((m) => this.has(m.sha256)) ? index : undefined;
  }

  rememberArchive(sha256: string, index: ArchiveIndex): void {
    this.writeAtomically(join(this.root, 'archives', `${sha256}.json`), `${JSON.stringify(index, null, 2)}\n`);
  }

  /**
   * `file` (holding `sha256`) encoded for the wire, made once and kept: every later upload of these
   * bytes, to any host of any cluster, streams the stored encoding.
   */
  encoded(sha256: string, file: string, codec: TransferCodec): Promise<EncodedFile> {
    if (codec === 'none') return Promise.resolve({ codec, file, bytes: statSync(file).size });
    const dest = join(this.root, 'encoded', codec, sha256);
    if (existsSync(dest)) return Promise.resolve({ codec, file: dest, bytes: statSync(dest).size });
    const key = `${codec}/${sha256}`;
    let made = this.encoding.get(key);
    if (!made) {
      made = this.encode(file, dest, codec).finally(() => this.encoding.delete(key));
      this.encoding.set(key, made);
    }
    return made;
  }

  /**
   * sha256 and size of a file outside the cache (in a bundle, next to a user manifest), hashed only
   * when the file is new or changed since it was last hashed here: any write changes its ctime,
   * which no tool can set back, so re-using a bundle costs a stat per file, not a read of gigabytes.
   */
  async hashOf(file: string): Promise<{ sha256: string; size: number }> {
    const st = statSync(file, { bigint: true });
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const record = join(this.root, 'verified', `${createHash('sha256').update(resolve(file)).digest('hex')}.json`);
    if (existsSync(record)) {
      const known = JSON.parse(readFileSync(record, 'utf8')) as { stamp: string; sha256: string; size: number };
      if (known.stamp === stamp) return { sha256: known.sha256, size: known.size };
    }
    const hashed = await hashFile(file);
    this.writeAtomically(record, `${JSON.stringify({ file: resolve(file), stamp, ...hashed })}\n`);
    return hashed;
  }

  /** A hard link to the blob at `dest` when on one filesystem, else a copy. */
  linkOrCopy(sha256: string, dest: string): Promise<void> {
    try {
      linkSync(this.blobPath(sha256), dest);
      return Promise.resolve();
    } catch {
      return pipeline(createReadStream(this.blobPath(sha256)), createWriteStream(dest));
    }
  }

  private async encode(file: string, dest: string, codec: Exclude<TransferCodec, 'none'>): Promise<EncodedFile> {
    mkdirSync(join(this.root, 'encoded', codec), { recursive: true });
    const temp = this.tempPath();
    try {
      if (codec === 'gzip') await pipeline(createReadStream(file), createGzip({ level: 6 }), createWriteStream(temp));
      else await zstd(file, temp);
      renameSync(temp, dest);
    } catch (err) {
      rmSync(temp, { force: true });
      throw err;
    }
    return { codec, file: dest, bytes: statSync(dest).size };
  }

  private writeAtomically(file: string, content: string): void {
    mkdirSync(join(file, '..'), { recursive: true });
    const temp = this.tempPath();
    writeFileSync(temp, content);
    renameSync(temp, file);
  }
}

/** Node 20 has no zstd: the zstd tool does it, when this machine has one (see hasLocalZstd). */
function zstd(file: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', ['-q', '-f', '-3', '-T0', file, '-o', dest], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}: ${stderr.trim()}`))));
  });
}

let localZstd: boolean | undefined;

/** Whether this machine can make zstd encodings (the zstd tool is on PATH). */
export function hasLocalZstd(): boolean {
  if (localZstd === undefined) {
    const path = (process.env.PATH ?? '').split(':').filter(Boolean);
    localZstd = path.some((dir) => existsSync(join(dir, 'zstd')));
  }
  return localZstd;
}
