import { lstatSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { KubestrapError } from '../errors.js';
import { ensureRealDir, lstatOrUndefined, writeFresh as writeFreshFile, type Refusal } from '../fresh-file.js';
import { CONTROL_CHARACTER } from '../printable.js';

/** A file to write below the output directory. */
export interface OutputFile {
  /** Path relative to the output directory, `/`-separated. */
  rel: string;
  content: Buffer | string;
  mode: number;
}

export class OutputError extends KubestrapError {
  readonly kind = 'output';

  constructor(
    readonly dir: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return this.dir;
  }
}

export interface WriteResult {
  written: number;
  /** Files an earlier render wrote that this one did not produce (`clean` removes them). */
  stale: string[];
  /** Files in the output directory that no render wrote: never removed. */
  foreign: string[];
}

/** Left in the output directory by every render: the files it wrote, so `--clean` removes only those. */
export const RENDER_MARKER = '.kubestrap-render';

/**
 * Writes a rendered tree. Callers render everything first and call this only when nothing failed, so
 * a bad input writes nothing. The output directory may be shared with others (a folder in /tmp, a
 * checkout): nothing is written through a symbolic link (each file is created fresh and renamed into
 * place; a linked folder is refused), and `clean` deletes only files that an earlier render recorded
 * in its marker, in a folder that holds one. The output directory is never / or the home folder.
 */
export function writeOutputTree(outDir: string, files: OutputFile[], dirs: string[], opts: { clean: boolean }): WriteResult {
  const root = resolve(outDir);
  refuseDangerousTarget(root);
  const earlier = readMarker(root);
  if (opts.clean && earlier === undefined && listFiles(root).length > 0) {
    throw new OutputError(
      root,
      `--clean removes only what an earlier render wrote, and this folder holds files but no ${RENDER_MARKER} (the list a render leaves)`,
      'render into a new or empty folder, or remove the files yourself if they are yours to remove',
    );
  }
  ensureDir(root, root);
  for (const dir of dirs) ensureDir(root, join(root, dir));
  const umask = process.umask();
  for (const file of files) writeFresh(root, file.rel, file.content, file.mode & ~umask);

  const produced = new Set(files.map((f) => f.rel));
  const leftover = listFiles(root).filter((rel) => !produced.has(rel) && rel !== RENDER_MARKER);
  const byRender = new Set(earlier ?? []);
  let stale = leftover.filter((rel) => byRender.has(rel));
  if (opts.clean) {
    for (const rel of stale) unlinkSync(join(root, rel));
    removeEmptyDirs(root, stale);
    stale = [];
  }
  // The marker lists this render's files plus earlier ones still there, so a later --clean finds them.
  writeFresh(root, RENDER_MARKER, `${JSON.stringify({ writtenBy: 'kubestrap render', files: [...produced, ...stale].sort() }, null, 2)}\n`, 0o644 & ~umask);
  return { written: files.length, stale, foreign: leftover.filter((rel) => !byRender.has(rel)) };
}

function refuseDangerousTarget(root: string): void {
  const cwd = process.cwd();
  const isAncestorOf = (dir: string) => dir === root || dir.startsWith(root + sep);
  if (root === '/' || root === homedir() || isAncestorOf(cwd)) {
    throw new OutputError(root, 'refusing to write the rendered tree here: it is /, your home folder, or contains the current folder', 'pass --out with a dedicated folder, e.g. --out target');
  }
}

/** Creates `dir` and its missing parents below `root`; every existing one must be a real folder, not a link. */
function ensureDir(root: string, dir: string): void {
  const refuse: Refusal = (path, what) => new OutputError(root, `${path} is ${what}; render writes only into real folders`, 'remove it, or render into a new folder');
  ensureRealDir(root, dir, refuse);
}

/** A new file created exclusively (never through a link), given its mode, then renamed over `rel`. */
function writeFresh(root: string, rel: string, content: Buffer | string, mode: number): void {
  const target = join(root, rel);
  ensureDir(root, join(target, '..'));
  if (lstatOrUndefined(target)?.isDirectory()) throw new OutputError(root, `${target} is a folder, where render writes a file`, 'remove it, or render into a new folder');
  writeFreshFile(target, content, mode);
}

/** The files an earlier render recorded, or undefined without a marker; entries that leave the folder are dropped. */
function readMarker(root: string): string[] | undefined {
  const marker = join(root, RENDER_MARKER);
  if (!lstatOrUndefined(marker)?.isFile()) return undefined;
  try {
    const { files } = JSON.parse(readFileSync(marker, 'utf8')) as { files?: unknown };
    if (!Array.isArray(files)) return undefined;
    return files.filter((rel): rel is string => typeof rel === 'string' && isPlainRelative(rel) && isRealFileBelow(root, rel));
  } catch {
    return undefined;
  }
}

function isPlainRelative(rel: string): boolean {
  return rel !== '' && !rel.startsWith('/') && !CONTROL_CHARACTER.test(rel) && rel.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** Every folder on the way is a real one, so removing `rel` removes a file inside the output folder. */
function isRealFileBelow(root: string, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const stat = lstatOrUndefined(join(root, ...parts.slice(0, i)));
    if (!stat || stat.isSymbolicLink() || !stat.isDirectory()) return false;
  }
  const stat = lstatOrUndefined(join(root, rel));
  return stat !== undefined && !stat.isDirectory();
}

function removeEmptyDirs(root: string, removed: string[]): void {
  const dirs = new Set(
    removed.flatMap((rel) =>
      rel
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      rmdirSync(join(root, dir));
    } catch {
      /* not empty: someone's file is in it */
    }
  }
}

/** Files below `root` (symbolic links listed, never followed), `/`-separated. */
function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    if (!lstatOrUndefined(dir)?.isDirectory()) return;
    for (const name of readdirSync(dir)) {
      const rel = prefix ? `${prefix}/${name}` : name;
      if (lstatSync(join(dir, name)).isDirectory()) walk(join(dir, name), rel);
      else out.push(rel);
    }
  };
  walk(root, '');
  return out.sort();
}
