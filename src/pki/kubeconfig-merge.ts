import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { KubeconfigError } from '../errors.js';
import { writeFresh } from '../fresh-file.js';

/**
 * `bootstrap kubeconfig --merge`: the new cluster, user and context go into the kubeconfig kubectl
 * reads by default, as `kubectl config set-cluster/set-credentials/set-context` and `use-context`
 * would put them: an entry of the same name is replaced, every other entry and key is kept, and the
 * new context becomes the current one (kind and k3d do the same).
 */

/** The file kubectl writes to: $KUBECONFIG's first entry, else ~/.kube/config (as client-go's loading rules). */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((p) => p.length > 0);
  return first ?? join(home, '.kube', 'config');
}

type NamedList = Array<{ name: string } & Record<string, unknown>>;
const LISTS = ['clusters', 'users', 'contexts'] as const;

/** `existing` (a kubeconfig's text; empty or absent for none) with `added`'s entries merged in. */
export function mergeKubeconfig(existing: string | undefined, added: string, file: string): string {
  const base = existing?.trim() ? parseConfig(existing, file) : { apiVersion: 'v1', kind: 'Config', preferences: {} };
  const add = parseConfig(added, '(new kubeconfig)');
  for (const list of LISTS) {
    const current = (base[list] ?? []) as NamedList;
    if (!Array.isArray(current)) throw notAKubeconfig(file, `${list} is not a list`);
    const incoming = (add[list] ?? []) as NamedList;
    const names = new Set(incoming.map((e) => e.name));
    // Replaced in place, so a file's order (and its diff) stays as it was.
    const merged = current.map((e) => (names.has(e?.name) ? incoming.find((i) => i.name === e.name)! : e));
    base[list] = [...merged, ...incoming.filter((i) => !current.some((e) => e?.name === i.name))];
  }
  base['current-context'] = add['current-context'];
  return stringify(base, { lineWidth: 0 });
}

/** Merges `added` into `file` atomically (0600: it holds keys); a linked kubeconfig is updated where the link points. */
export function mergeIntoFile(file: string, added: string): void {
  const target = existsSync(file) ? realpathSync(file) : file;
  const existing = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
  const merged = mergeKubeconfig(existing, added, file);
  // ~/.kube as kubectl makes it: private to the user.
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  writeFresh(target, merged, 0o600);
}

function parseConfig(text: string, file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw notAKubeconfig(file, (err as Error).message.split('\n')[0] ?? 'invalid YAML');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw notAKubeconfig(file, 'it is not a YAML mapping');
  return doc as Record<string, unknown>;
}

function notAKubeconfig(file: string, why: string): KubeconfigError {
  return new KubeconfigError(file, `cannot merge into this kubeconfig: ${why}`, 'fix or move the file (kubectl cannot read it either), or write a separate file with --out');
}
