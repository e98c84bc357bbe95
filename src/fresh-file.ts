import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, createWriteStream, fchmodSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { once } from 'node:events';
import { basename, dirname, join, sep } from 'node:path';
import type { Writable } from 'node:stream';
import type { WriteStream } from 'node:fs';
import type { KubestrapError } from './errors.js';

/**
 * How kubestrap writes files on this machine (rendered trees, bundles, the download cache, the
 * lock file, the files `init` writes), so that none is ever written through a link: each file is
 * created fresh under a random name in its target's folder (O_EXCL: a link planted under that name
 * makes the create fail, it is never followed), given its mode, and renamed over the target (a link
 * there is replaced, its target untouched). A reader sees the old file or the new one, never half.
 * Folders a caller writes into are created, or must be real folders, not links to elsewhere.
 */

/** The caller's own error for a path it will not write through, e.g. render's OutputError. */
export type Refusal = (path: string, what: 'a symbolic link' | 'not a folder') => KubestrapError;

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Creates `dir` and its missing parents below `root` (`mode` for new ones); `root` and every folder
 * on the way that exists must be a real folder, not a link.
 */
export function ensureRealDir(root: string, dir: string, refuse: Refusal, mode = 0o777): void {
  const parts = dir === root ? [] : dir.slice(root.length + 1).split(sep);
  for (let i = 0; i <= parts.length; i++) {
    const path = i === 0 ? root : join(root, ...parts.slice(0, i));
    const stat = lstatOrUndefined(path);
    if (stat === undefined) mkdirSync(path, { recursive: i === 0, mode });
    else if (stat.isSymbolicLink()) throw refuse(path, 'a symbolic link');
    else if (!stat.isDirectory()) throw refuse(path, 'not a folder');
  }
}

/** A name for a new file next to `target`, which no one else can have made (see the O_EXCL creates). */
function freshName(target: string): string {
  return join(dirname(target), `.${basename(target).slice(0, 100)}.kubestrap-${randomBytes(6).toString('hex')}`);
}

/** Moves a finished temp file over `target`; on failure the temp file is removed. */
function commit(temp: string, target: string): void {
  try {
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** Writes `content` to `target` as a new file with exactly `mode`, never through a link. */
export function writeFresh(target: string, content: string | Buffer, mode: number): void {
  const temp = freshName(target);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeFileSync(fd, content);
    fchmodSync(fd, mode);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  } finally {
    closeSync(fd);
  }
  commit(temp, target);
}

/**
 * Like writeFresh for content that streams: `fill` writes into (and ends) the new file's stream.
 * When it fails, nothing is left behind and `target` is as it was.
 */
export async function writeFreshFrom(target: string, mode: number, fill: (out: Writable) => Promise<void>): Promise<void> {
  const temp = freshName(target);
  const out = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
  try {
    await fill(out);
    if (!out.closed) await once(out, 'close');
    chmodSync(temp, mode);
  } catch (err) {
    await discard(out, temp);
    throw err;
  }
  commit(temp, target);
}

/**
 * Removes the file a failed write stream was writing. The stream may still be opening it (a
 * failure before the first write), so it is removed only once the stream is done with it: else
 * the late open would leave an empty file behind.
 */
export async function discard(out: WriteStream, path: string): Promise<void> {
  out.on('error', () => undefined);
  if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()).destroy());
  rmSync(path, { force: true });
}

/** A hard link to `existing` at `target` (replacing what is there, a link included, never following it). */
export function linkFresh(existing: string, target: string): void {
  const temp = freshName(target);
  linkSync(existing, temp);
  commit(temp, target);
}
