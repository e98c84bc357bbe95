import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ArtifactError } from '../errors.js';
import { writeFresh } from '../fresh-file.js';

/**
 * The cluster's lock file of artifacts (`<state>/artifacts.lock.json`), like a package manager's:
 * the sha256 of every download and binary the cluster used, with how it was first checked. Where
 * neither kubestrap nor upstream publishes a checksum (flannel), the first download is pinned here
 * and every later use must match it; where they do, it pins the exact bytes of this cluster, so a
 * re-published upstream file or a mirror serving other bytes is caught. Keys do not contain the base
 * URL: switching to a mirror keeps the pins.
 *
 * It also keeps the digest of each wire encoding (`encodings`, by codec and the binary's sha256)
 * this cluster made or checked by decoding it, so that a later run checks a cached encoding by one
 * read of it instead of decoding it again. Encodings depend on this machine's zstd: one that differs
 * from its pin is decoded and checked again (and pinned anew), never refused for that alone.
 */
const Pin = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  /** How the bytes were checked when first pinned (`manifest`: by an offline bundle's). */
  checkedBy: z.enum(['kubestrap', 'upstream', 'first-download', 'manifest', 'archive']),
  /** Where they came from (a URL, or the download a binary was extracted from). */
  from: z.string(),
});
export type Pin = z.infer<typeof Pin>;

/** An encoding's own bytes: what the controller streams to hosts. */
const EncodingPin = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});
export type EncodingPin = z.infer<typeof EncodingPin>;

const LockSchema = z.object({
  format: z.literal(1),
  downloads: z.record(z.string(), Pin),
  binaries: z.record(z.string(), Pin),
  encodings: z.record(z.string(), EncodingPin).default({}),
});
type LockData = z.infer<typeof LockSchema>;

export const LOCK_FILE = 'artifacts.lock.json';

export class ArtifactLock {
  private constructor(
    /** Where the pins are kept, for messages: the lock file, or what stands in for it. */
    readonly file: string,
    private data: LockData,
    private readonly persistent = true,
    private dirty = false,
  ) {}

  /** Pins that live as long as the process: for a bundle, whose manifest records every checksum. */
  static inMemory(label: string): ArtifactLock {
    return new ArtifactLock(label, { format: 1, downloads: {}, binaries: {}, encodings: {} }, false);
  }

  static open(stateDir: string): ArtifactLock {
    const file = join(stateDir, LOCK_FILE);
    if (!existsSync(file)) return new ArtifactLock(file, { format: 1, downloads: {}, binaries: {}, encodings: {} });
    const parsed = LockSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      throw new ArtifactError(
        file,
        `${file} is not a valid artifact lock file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        'restore it from a backup, or delete it to pin every artifact again on the next download',
      );
    }
    return new ArtifactLock(file, parsed.data);
  }

  download(key: string): Pin | undefined {
    return this.data.downloads[key];
  }

  binary(key: string): Pin | undefined {
    return this.data.binaries[key];
  }

  pinDownload(key: string, pin: Pin): void {
    this.data.downloads[key] = pin;
    this.dirty = true;
  }

  pinBinary(key: string, pin: Pin): void {
    this.data.binaries[key] = pin;
    this.dirty = true;
  }

  /** The pin of the encoding of the binary with `sha256` under `codec`. */
  encoding(codec: string, sha256: string): EncodingPin | undefined {
    return this.data.encodings[`${codec} ${sha256}`];
  }

  /** Pins an encoding (anew: a re-made or re-checked encoding replaces the old pin). */
  pinEncoding(codec: string, sha256: string, pin: EncodingPin): void {
    const key = `${codec} ${sha256}`;
    const known = this.data.encodings[key];
    if (known?.sha256 === pin.sha256 && known.size === pin.size) return;
    this.data.encodings[key] = pin;
    this.dirty = true;
  }

  /** Writes the file if anything was pinned (atomically: a crash leaves the old or the new one). */
  save(): void {
    if (!this.dirty || !this.persistent) return;
    const sorted = <T>(r: Record<string, T>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
    const { downloads, binaries, encodings } = this.data;
    writeFresh(this.file, `${JSON.stringify({ format: 1, downloads: sorted(downloads), binaries: sorted(binaries), encodings: sorted(encodings) }, null, 2)}\n`, 0o644);
    this.dirty = false;
  }
}
