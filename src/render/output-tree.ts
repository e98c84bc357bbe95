import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { KubestrapError } from '../errors.js';

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
  /** Files already in the output directory that this render did not produce. */
  stale: string[];
}

/**
 * Writes a rendered tree. Callers render everything first and call this only when nothing failed, so
 * a bad input writes nothing. Files left from an earlier render are reported (or removed with
 * `clean`); the output directory is never a place whose loss would hurt, such as / or the home folder.
 */
export function writeOutputTree(outDir: string, files: OutputFile[], dirs: string[], opts: { clean: boolean }): WriteResult {
  const root = resolve(outDir);
  refuseDangerousTarget(root);
  if (opts.clean && existsSync(root)) rmSync(root, { recursive: true, force: true });

  mkdirSync(root, { recursive: true });
  for (const dir of dirs) mkdirSync(join(root, dir), { recursive: true });
  const umask = process.umask();
  for (const file of files) {
    const target = join(root, file.rel);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content);
    // Like cp: the template's mode, less the umask, also when the file already existed.
    chmodSync(target, file.mode & ~umask);
  }
  const produced = new Set(files.map((f) => f.rel));
  const stale = listFiles(root).filter((rel) => !produced.has(rel));
  return { written: files.length, stale };
}

function refuseDangerousTarget(root: string): void {
  const cwd = process.cwd();
  const isAncestorOf = (dir: string) => dir === root || dir.startsWith(root + sep);
  if (root === '/' || root === homedir() || isAncestorOf(cwd)) {
    throw new OutputError(root, 'refusing to write the rendered tree here: it is /, your home folder, or contains the current folder', 'pass --out with a dedicated folder, e.g. --out target');
  }
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(root, full).split(sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}
