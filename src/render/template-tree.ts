import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A template tree on disk: every regular file (symlinks followed) and every directory, with paths
 * relative to the root in `/` form, sorted so renders are deterministic.
 */
export interface TemplateFile {
  /** Absolute path of the template. */
  source: string;
  /** Path relative to the tree's root, e.g. `master/etc/systemd/system/kube-apiserver.service`. */
  rel: string;
  /** Permission bits of the template file (an executable template renders an executable file). */
  mode: number;
}

export interface TemplateTree {
  root: string;
  files: TemplateFile[];
  /** Every directory below the root, including empty ones. */
  dirs: string[];
}

export function readTemplateTree(root: string): TemplateTree {
  const files: TemplateFile[] = [];
  const dirs: string[] = [];
  const walk = (rel: string) => {
    const entries = readdirSync(rel ? join(root, rel) : root).sort();
    for (const name of entries) {
      const childRel = rel ? `${rel}/${name}` : name;
      const source = join(root, childRel);
      const stat = statSync(source);
      if (stat.isDirectory()) {
        dirs.push(childRel);
        walk(childRel);
      } else if (stat.isFile()) {
        files.push({ source, rel: childRel, mode: stat.mode & 0o7777 });
      }
    }
  };
  walk('');
  return { root, files, dirs };
}
