import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { TemplateError } from '../errors.js';
import { CONTROL_CHARACTER, describeControl, printable } from '../printable.js';

/**
 * A template tree on disk: every regular file and every directory, with paths relative to the root
 * in `/` form, sorted so renders are deterministic.
 *
 * A template's path becomes a path on every host and appears in the scripts that install it, so a
 * name with a control character (a newline would start a new command line) is refused here, before
 * anything is rendered. Symbolic links are followed only while they stay inside the tree: one that
 * leads out would render a file of this machine (a private key, say) onto every host.
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
  /** Entries refused: names with control characters, links that leave the tree. */
  problems: TemplateError[];
}

export function readTemplateTree(root: string): TemplateTree {
  const files: TemplateFile[] = [];
  const dirs: string[] = [];
  const problems: TemplateError[] = [];
  const realRoot = realpathSync(root);
  const visited = new Set([realRoot]);
  const inside = (path: string) => path === realRoot || path.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
  const walk = (rel: string) => {
    const entries = readdirSync(rel ? join(root, rel) : root).sort();
    for (const name of entries) {
      const childRel = rel ? `${rel}/${name}` : name;
      const source = join(root, childRel);
      if (CONTROL_CHARACTER.test(name)) {
        problems.push(
          new TemplateError(
            printable(childRel, { keepNewlines: false }),
            undefined,
            undefined,
            `the name holds a control character, ${describeControl(name)}`,
            'rename the file or folder: paths on hosts are printable text',
          ),
        );
        continue;
      }
      if (lstatSync(source).isSymbolicLink() && !inside(realpathSync(source))) {
        problems.push(
          new TemplateError(childRel, undefined, undefined, `is a symbolic link to ${realpathSync(source)}, outside the template tree`, 'copy the file into the tree instead of linking to it'),
        );
        continue;
      }
      const stat = statSync(source);
      if (stat.isDirectory()) {
        const real = realpathSync(source);
        if (visited.has(real)) {
          problems.push(new TemplateError(childRel, undefined, undefined, `links back to ${real}, which the tree already holds (a loop)`, 'remove the link'));
          continue;
        }
        visited.add(real);
        dirs.push(childRel);
        walk(childRel);
      } else if (stat.isFile()) {
        files.push({ source, rel: childRel, mode: stat.mode & 0o7777 });
      }
    }
  };
  walk('');
  return { root, files, dirs, problems };
}
