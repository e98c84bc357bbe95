import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ClusterSpec } from '../config/cluster-spec.js';
import { mapLimit } from '../engine/limit.js';
import { checkPrivate } from '../state/state-dir.js';

/** One item of the local PKI as files: a certificate and its key, or (the service account) a key pair. */
export interface StoredItem {
  certPem?: string;
  keyPem?: string;
  publicPem?: string;
}

const EXTENSIONS = { certPem: '.crt', keyPem: '.key', publicPem: '.pub' } as const;
type Part = keyof typeof EXTENSIONS;
const PART_MODES: Record<Part, number> = { certPem: 0o644, keyPem: 0o600, publicPem: 0o644 };
const PARALLEL_WRITES = 32;
/** Keys first: a crash between the two leaves a certificate without its key, which the next run re-issues. */
const WRITE_ORDER: Part[] = ['keyPem', 'publicPem', 'certPem'];

/** The cluster's PKI on the controller: `<state dir>/pki`. */
export function localPkiStore(spec: Pick<ClusterSpec, 'stateDir'>): PkiStore {
  return new PkiStore(join(spec.stateDir, 'pki'));
}

/**
 * The cluster's PKI on the controller, in `<state>/pki/`: `<name>.crt`, `<name>.key` (and `sa.pub`),
 * per-node items in sub-folders (`kubelet/node1.crt`). Folders are 0700 and keys 0600 whatever the
 * umask. Every file is written atomically (a temp file in the same folder, synced, renamed), so a
 * crash leaves either the old file or the new one, never a torn key.
 */
export class PkiStore {
  constructor(readonly dir: string) {}

  /** Refuses a store that others may write: whoever can could plant a CA (see state-dir.ts). */
  checkPrivate(): void {
    checkPrivate(this.dir);
  }

  pathOf(name: string, part: Part): string {
    return join(this.dir, `${name}${EXTENSIONS[part]}`);
  }

  read(name: string): StoredItem {
    const item: StoredItem = {};
    for (const part of Object.keys(EXTENSIONS) as Part[]) {
      const file = this.pathOf(name, part);
      if (existsSync(file)) item[part] = readFileSync(file, 'utf8');
    }
    return item;
  }

  /**
   * Writes items, each item's files in WRITE_ORDER; the items themselves are written in parallel
   * (the disk batches their syncs), and every folder is synced once at the end.
   */
  async writeAll(items: ReadonlyArray<readonly [string, StoredItem]>): Promise<void> {
    const dirs = new Set<string>();
    this.ensured.clear();
    await mapLimit(items, PARALLEL_WRITES, async ([name, item]) => {
      for (const part of WRITE_ORDER) {
        const content = item[part];
        if (content === undefined) continue;
        const file = this.pathOf(name, part);
        this.ensureDir(dirname(file));
        await writeFileAtomically(file, content, PART_MODES[part]);
        dirs.add(dirname(file));
      }
    });
    for (const dir of dirs) syncDir(dir);
  }

  /** Folders checked during the current writeAll. */
  private readonly ensured = new Set<string>();

  /** Each folder from the store's root down to `dir`, 0700 even if it existed wider. */
  private ensureDir(dir: string): void {
    if (this.ensured.has(dir)) return;
    if (dir !== this.dir && !dir.startsWith(`${this.dir}/`)) throw new Error(`${dir} is outside the PKI store ${this.dir}`);
    if (dir !== this.dir) this.ensureDir(dirname(dir));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    this.ensured.add(dir);
  }
}

async function writeFileAtomically(file: string, content: string, mode: number): Promise<void> {
  const temp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** The rename is durable only once the folder's entry is on disk too. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
