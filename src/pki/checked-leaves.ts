import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateInfo } from './certificate.js';

/**
 * The leaves an earlier run found sound, kept in the store as `checked.json`: for each, the sha256
 * of its certificate, key and CA certificate together, and what the certificate says. Checking a
 * leaf (parsing its key, that the key is the certificate's, that the CA signed it) takes about 4 ms
 * of CPU, and a 1000-host cluster has 2000 leaves: 8 s of every run. A leaf whose three texts hash as
 * recorded is the pair that was checked, so only what can change without them changing is judged
 * again each run (expiry, what the inventory wants of it). Any edit of a file misses, and is checked
 * in full. The file is a cache: unreadable or missing, every leaf is checked.
 */
export interface LeafTexts {
  certPem: string;
  keyPem: string;
  caCertPem: string;
}

const FILE = 'checked.json';

type StoredInfo = Omit<CertificateInfo, 'notBefore' | 'notAfter'> & { notBefore: string; notAfter: string };

export class CheckedLeaves {
  private readonly used = new Map<string, StoredInfo>();
  private changed = false;

  private constructor(
    private readonly dir: string,
    private readonly known: ReadonlyMap<string, StoredInfo>,
  ) {}

  static load(dir: string): CheckedLeaves {
    const file = join(dir, FILE);
    try {
      const known = existsSync(file) ? new Map(Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, StoredInfo>)) : new Map<string, StoredInfo>();
      return new CheckedLeaves(dir, known);
    } catch {
      return new CheckedLeaves(dir, new Map());
    }
  }

  /** What the certificate says, when these exact texts were checked before. */
  info(texts: LeafTexts): CertificateInfo | undefined {
    const key = hashOf(texts);
    const stored = this.known.get(key);
    if (!stored) return undefined;
    this.used.set(key, stored);
    return { ...stored, notBefore: new Date(stored.notBefore), notAfter: new Date(stored.notAfter) };
  }

  /** These texts are a sound leaf: its key is the certificate's, and the CA signed it. */
  remember(texts: LeafTexts, info: CertificateInfo): void {
    const key = hashOf(texts);
    if (!this.known.has(key)) this.changed = true;
    this.used.set(key, { ...info, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString() });
  }

  /** Writes the leaves this run found sound (others are dropped), when that differs from the file; only into an existing store. */
  save(): void {
    if (!existsSync(this.dir) || (!this.changed && this.used.size === this.known.size)) return;
    const file = join(this.dir, FILE);
    // Hashes and what the certificates say: as public as the certificates next to it (0644).
    writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.used)), { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
  }
}

function hashOf(texts: LeafTexts): string {
  return createHash('sha256').update(texts.certPem).update('\0').update(texts.keyPem).update('\0').update(texts.caCertPem).digest('hex');
}
