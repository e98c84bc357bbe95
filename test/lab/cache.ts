import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { withLock } from './lock.js';
import { unmountUnder } from './mounts.js';
import { CACHE_DIR } from './paths.js';

export function shortHash(value: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/**
 * Returns `CACHE_DIR/<kind>-<hash>`, building it first if absent. The build writes into a temp dir
 * that is renamed into place only when complete, so a crash mid-build leaves a `.tmp-*` dir (swept
 * by the next build) and never something that looks cached. One build at a time machine-wide: two
 * labs coming up together must not both debootstrap.
 */
export async function cachedDir(kind: string, hash: string, build: (dir: string) => Promise<void>): Promise<string> {
  const final = path.join(CACHE_DIR, `${kind}-${hash}`);
  if (fs.existsSync(final)) return final;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  return withLock('cache-build', async () => {
    if (fs.existsSync(final)) return final;
    await sweepStaleBuilds(kind);
    const tmp = `${final}.tmp-${process.pid}`;
    fs.mkdirSync(tmp, { recursive: true });
    try {
      await build(tmp);
    } catch (e) {
      await unmountUnder(tmp);
      throw e;
    }
    fs.renameSync(tmp, final);
    return final;
  });
}

/** Half-built dirs of a crashed build; safe to delete because we hold the build lock. */
async function sweepStaleBuilds(kind: string): Promise<void> {
  for (const entry of fs.readdirSync(CACHE_DIR)) {
    if (!entry.startsWith(`${kind}-`) || !entry.includes('.tmp-')) continue;
    const dir = path.join(CACHE_DIR, entry);
    await unmountUnder(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
