import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { TransferCodec } from '../transfer/transfer-codec.js';
import { ArtifactError, StateError } from '../errors.js';
import { linkFresh, lstatOrUndefined, writeFresh, writeFreshFrom } from '../fresh-file.js';
import { checkPrivate, type PrivatePath } from '../state/state-dir.js';
import type { DigestAlgorithm } from '../upstream/index.js';
import { digestsOfFile, hashFile } from './hash-file.js';
import { meter, readChunks } from './meter.js';
import { decodedContent, encodeFrom, type Content } from './wire-encoding.js';

/**
 * The download cache every cluster of the user shares (`$XDG_CACHE_HOME/kubestrap`, else
 * `~/.cache/kubestrap`). Files are stored by their sha256, checked against it when they came in:
 * content addressing means the same bytes are never fetched twice, whichever cluster or mirror
 * asked. Every write goes to a new file renamed into place, so a reader (another run, another
 * cluster) sees a whole file or none.
 *
 * Whoever can write the cache chooses what runs as root on every host, so, like the state folder,
 * its folders and every file a run uses must belong to this user (or root) and be writable by no
 * one else (see checkPrivate). Within a private cache, what a run sends to a host is still read
 * once when it is sent (checkSent), unless this run made or hashed it: a no-op run hashes nothing.
 *
 *   blobs/<sha256>            downloaded files and binaries extracted from archives (read-only)
 *   digests/sha512/<hex>      the sha256 of the blob with that sha512 (CHANGELOG-pinned tarballs); a
 *                             hint: the blob is hashed again before a cluster trusts it
 *   encoded/<codec>/<sha256>  a blob compressed for the wire, made once from the bytes hashed as it
 *                             was made; when sent, checked against the digest the cluster's lock
 *                             file pins for it, or decoded and checked against the blob's sha256
 *   verified/<key>.json       sha256 of a file outside the cache (a bundle's, a user manifest's) as
 *                             hashed when it had this size, mtime, ctime and inode
 */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'kubestrap');
}

export interface EncodedFile {
  codec: TransferCodec;
  file: string;
  bytes: number;
}

/** The folders of the cache, checked on every run. */
const FOLDERS = ['blobs', 'digests', 'digests/sha512', 'encoded', 'encoded/gzip', 'encoded/zstd', 'verified', 'tmp'];

const CACHE_PATH: PrivatePath = {
  risk: 'choose what kubestrap installs as root on every host',
  alternative: 'point XDG_CACHE_HOME at a folder of your own',
};

const SHA256 = /^[0-9a-f]{64}$/;

const LEFTOVER_AGE_MS = 24 * 3600 * 1000;

const VerifiedRecord = z.object({ file: z.string(), stamp: z.string(), sha256: z.string().regex(SHA256), size: z.number().int().nonnegative() });

export class ArtifactCache {
  /** Encodings being made in this process, so two hosts asking at once share one. */
  private readonly encoding = new Map<string, Promise<{ transfer: EncodedFile; made: Content }>>();
  /** Files this process hashed (while downloading, unpacking, encoding, or to check them): path -> sha256 of their content. */
  private readonly hashed = new Map<string, string>();
  /** Checks of files about to be sent, so that a file sent to many hosts is read once. */
  private readonly sendChecks = new Map<string, Promise<Content | undefined>>();

  constructor(readonly root: string) {}

  /**
   * Refuses a cache that someone else could have written (see CACHE_PATH): the cache folder (its
   * real path, when it is a link to another disk) and every folder in it. Files are checked as they
   * are used.
   */
  checkPrivate(): void {
    if (!existsSync(this.root)) return;
    const real = realpathSync(this.root);
    for (const dir of ['', ...FOLDERS]) checkPrivate(join(real, dir), CACHE_PATH);
  }

  /**
   * Removes what runs that were killed mid-write left: temp files a day old (no download takes a
   * day; a younger one may be another run's, on this machine or another that shares the cache).
   */
  sweepLeftovers(now = Date.now()): void {
    for (const dir of FOLDERS.map((d) => join(this.root, d))) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names.filter((n) => dir.endsWith(`${sep}tmp`) || /^\..*\.kubestrap-[0-9a-f]+$/.test(n))) {
        const stat = lstatOrUndefined(join(dir, name));
        if (stat?.isFile() && now - stat.mtimeMs > LEFTOVER_AGE_MS) rmSync(join(dir, name), { force: true });
      }
    }
  }

  blobPath(sha256: string): string {
    // A name made from a registry's or a record's text never leads out of the folder.
    if (!SHA256.test(sha256)) throw new ArtifactError(sha256, `"${sha256}" is not a sha256 (64 lower-case hex digits)`, 'the registry or a record in the cache gave a malformed digest');
    return join(this.root, 'blobs', sha256);
  }

  /** Whether the blob is cached; one that someone else could have written is refused. */
  has(sha256: string): boolean {
    return this.usable(this.blobPath(sha256));
  }

  /** A fresh path for a file being written (create it with flags `wx`); same filesystem as the blobs, so it can be renamed in. */
  tempPath(): string {
    return join(this.folder('tmp'), `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Moves a temp file whose content was hashed as it was written into place under that sha256. */
  adopt(temp: string, sha256: string): string {
    const dest = this.blobPath(sha256);
    this.folder('blobs');
    chmodSync(temp, 0o444);
    renameSync(temp, dest);
    this.hashed.set(dest, sha256);
    return dest;
  }

  /**
   * The blob whose other digest (sha512, from a CHANGELOG) is this, if cached. The record that
   * maps one digest to the other is a hint: the blob is hashed again (both digests) before it is
   * used, and a record or blob that does not hold up is removed.
   */
  async bySecondaryDigest(algorithm: DigestAlgorithm, hex: string): Promise<string | undefined> {
    if (algorithm === 'sha256') return this.has(hex) ? hex : undefined;
    const record = join(this.root, 'digests', algorithm, hex);
    if (!this.usable(record)) return undefined;
    const sha256 = readFileSync(record, 'utf8').trim();
    if (!SHA256.test(sha256) || !this.has(sha256)) return undefined;
    const blob = this.blobPath(sha256);
    const { digests } = await digestsOfFile(blob, ['sha256', algorithm]);
    if (digests.sha256 !== sha256 || digests[algorithm] !== hex) {
      rmSync(record, { force: true });
      if (digests.sha256 !== sha256) rmSync(blob, { force: true });
      return undefined;
    }
    this.hashed.set(blob, sha256);
    return sha256;
  }

  rememberDigest(algorithm: DigestAlgorithm, hex: string, sha256: string): void {
    if (algorithm === 'sha256') return;
    this.writeAtomically(join(this.folder('digests', algorithm), hex), `${sha256}\n`);
  }

  /**
   * `file` (holding `content`) encoded for the wire, made once and kept: every later upload of these
   * bytes, to any host of any cluster, streams the stored encoding (checked when sent, see
   * checkSent). The encoding is made from the bytes hashed as they are read: if `file` no longer
   * holds `content`, nothing is kept and the error says so. `made`: the new encoding's own digest,
   * when this call made it.
   */
  encoded(content: Content, file: string, codec: TransferCodec): Promise<{ transfer: EncodedFile; made?: Content }> {
    if (codec === 'none') return Promise.resolve({ transfer: { codec, file, bytes: statSync(file).size } });
    const dest = join(this.root, 'encoded', codec, content.sha256);
    if (this.usable(dest)) return Promise.resolve({ transfer: { codec, file: dest, bytes: statSync(dest).size } });
    const key = `${codec}/${content.sha256}`;
    let made = this.encoding.get(key);
    if (!made) {
      made = this.encode(content, file, dest, codec).finally(() => this.encoding.delete(key));
      this.encoding.set(key, made);
    }
    return made;
  }

  /**
   * Before `transfer` is sent to a host: it must decode to `content` (for `none`, be it). One read of
   * the file per run, and none when this run made or hashed it. An encoding is read as it is when
   * `pinned` gives its digest (as the cluster's lock file keeps it); without a pin, or when it is
   * another encoding, it is decoded and checked, and its own digest returned for the pin. A file
   * that fails is removed when it is the cache's own (the next run makes or downloads it again).
   */
  checkSent(transfer: { codec: TransferCodec; file: string }, content: Content, pinned?: Content): Promise<Content | undefined> {
    if (this.hashed.get(transfer.file) === content.sha256) return Promise.resolve(undefined);
    const key = `${transfer.codec} ${transfer.file} ${content.sha256}`;
    let check = this.sendChecks.get(key);
    if (!check) {
      check = this.checkContent(transfer, content, pinned);
      this.sendChecks.set(key, check);
    }
    return check;
  }

  /**
   * sha256 and size of a file outside the cache (in a bundle, next to a user manifest), hashed only
   * when the file is new or changed since it was last hashed here: any write changes its ctime,
   * which no tool can set back, so re-using a bundle costs a stat per file, not a read of gigabytes.
   */
  async hashOf(file: string): Promise<Content> {
    const st = statSync(file, { bigint: true });
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const record = join(this.root, 'verified', `${createHash('sha256').update(resolve(file)).digest('hex')}.json`);
    if (this.usable(record)) {
      const known = VerifiedRecord.safeParse(JSON.parse(readFileSync(record, 'utf8')));
      if (known.success && known.data.stamp === stamp && known.data.file === resolve(file)) return { sha256: known.data.sha256, size: known.data.size };
    }
    const hashed = await hashFile(file);
    this.hashed.set(file, hashed.sha256);
    this.folder('verified');
    this.writeAtomically(record, `${JSON.stringify({ file: resolve(file), stamp, ...hashed })}\n`);
    return hashed;
  }

  /** The blob at `dest` (a new file, never written through a link): a hard link when on one filesystem, else a copy checked as it is read. */
  async linkOrCopy(sha256: string, dest: string): Promise<void> {
    const blob = this.blobPath(sha256);
    try {
      linkFresh(blob, dest);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    }
    const m = meter();
    await writeFreshFrom(dest, 0o444, async (out) => {
      await pipeline(readChunks(blob), m.stream, out);
      if (m.hex('sha256') !== sha256) throw this.changed(blob, sha256, `its content has sha256 ${m.hex('sha256')}`);
    });
  }

  private async encode(content: Content, file: string, dest: string, codec: Exclude<TransferCodec, 'none'>): Promise<{ transfer: EncodedFile; made: Content }> {
    this.folder('encoded', codec);
    let made: Content | undefined;
    await writeFreshFrom(dest, 0o444, async (out) => {
      const read = await encodeFrom(file, codec, content.size, out);
      if (!read) throw this.changed(file, content.sha256, `it held more than ${content.size} bytes when it was read to be encoded`);
      if (read.content.sha256 !== content.sha256) throw this.changed(file, content.sha256, `it held other bytes (sha256 ${read.content.sha256}) when it was read to be encoded`);
      made = read.encoding;
    });
    this.hashed.set(dest, content.sha256);
    return { transfer: { codec, file: dest, bytes: made!.size }, made: made! };
  }

  private async checkContent(transfer: { codec: TransferCodec; file: string }, content: Content, pinned: Content | undefined): Promise<Content | undefined> {
    if (transfer.codec !== 'none' && pinned) {
      const itself = await decodedContent(transfer.file, 'none', pinned.size);
      if (itself?.content.sha256 === pinned.sha256) return undefined;
    }
    const got = await decodedContent(transfer.file, transfer.codec, content.size);
    if (got?.content.sha256 === content.sha256) return transfer.codec === 'none' ? undefined : got.encoding;
    const what = transfer.codec === 'none' ? 'holds' : `decodes (${transfer.codec}) to`;
    const found = got ? `${what} sha256 ${got.content.sha256}` : `${what} more than ${content.size} bytes`;
    const own = transfer.file.startsWith(this.root + sep);
    if (own) rmSync(transfer.file, { force: true });
    throw this.changed(transfer.file, content.sha256, `${found}${own ? '; it was deleted from the cache' : ''}`);
  }

  private changed(file: string, sha256: string, what: string): ArtifactError {
    const own = file.startsWith(this.root + sep);
    return new ArtifactError(
      file,
      `${file} is not what was checked: it must hold sha256 ${sha256}, but ${what}`,
      own
        ? `re-run to make or download it again; if it happens again, find out what else writes ${this.root}`
        : 'the file changed after kubestrap checked it: restore it (for a bundle, copy the bundle again), then re-run',
    );
  }

  /**
   * Whether a file of the cache exists and may be used: a regular file, not a link, belonging to
   * this user or root and writable by no one else. Anything else is refused (StateError).
   */
  private usable(path: string): boolean {
    const stat = lstatOrUndefined(path);
    if (stat === undefined) return false;
    if (!stat.isFile())
      throw new StateError(
        path,
        `this is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}, where the download cache keeps only files it wrote`,
        `rm ${path} (kubestrap makes or downloads it again)`,
      );
    checkPrivate(path, CACHE_PATH);
    return true;
  }

  /** A folder of the cache, created private (0700) if missing. */
  private folder(...parts: string[]): string {
    const dir = join(this.root, ...parts);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  private writeAtomically(file: string, content: string): void {
    writeFresh(file, content, 0o600);
  }
}
