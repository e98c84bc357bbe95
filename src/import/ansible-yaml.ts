import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from '../errors.js';
import { expandHostPattern, HOST_PATTERN_PROBLEM, portVars } from './ansible-ini.js';
import { addHost, group, type AnsibleInventory, type AnsibleValue, type Sourced } from './ansible-inventory.js';

/**
 * Ansible's YAML inventory (ansible-core's `yaml` plugin), as kubespray's inventory builder wrote
 * hosts.yaml: top-level groups (usually `all`), each with `hosts` (name: variables or nothing),
 * `vars` and `children` (name: a group of the same shape, or nothing).
 */
export function parseAnsibleYaml(text: string, file: string, inv: AnsibleInventory): ConfigError[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return [new ConfigError(file, undefined, undefined, `is not valid YAML: ${(err as Error).message}`, 'fix the YAML syntax')];
  }
  if (!isMapping(doc)) return [new ConfigError(file, undefined, undefined, 'is not an Ansible YAML inventory (a mapping of groups)', 'pass a hosts.yaml whose top level is `all:` or other groups')];
  const problems: ConfigError[] = [];
  for (const [name, body] of Object.entries(doc)) readGroup(inv, name, body, name, problems);
  return problems;
}

function readGroup(inv: AnsibleInventory, name: string, body: unknown, path: string, problems: ConfigError[]): void {
  const g = group(inv, name);
  if (body === null || body === undefined) return;
  if (!isMapping(body)) {
    problems.push(new ConfigError(inv.file, undefined, path, 'is not a group (hosts, vars, children)', 'write the group as a mapping'));
    return;
  }
  // Ansible skips other keys with a warning; here a misspelt `host:` would lose its hosts, so it is refused.
  for (const [key, value] of Object.entries(body)) {
    if (!['hosts', 'vars', 'children'].includes(key))
      problems.push(new ConfigError(inv.file, undefined, `${path}.${key}`, 'is not hosts, vars or children', 'a group holds hosts:, vars: and children:'));
    else if (value !== null && value !== undefined && !isMapping(value))
      problems.push(new ConfigError(inv.file, undefined, `${path}.${key}`, 'is not a mapping', `write ${key}: as name: value lines`));
  }
  for (const [pattern, vars] of Object.entries(mappingOr(body.hosts))) {
    // Ansible's YAML plugin expands a host key as the INI one does a host line's name: `node1:2222`, `node[1:3]`.
    const expanded = expandHostPattern(pattern);
    const where = `${path}.hosts.${pattern}`;
    if (!expanded) {
      const { message, hint } = HOST_PATTERN_PROBLEM(pattern);
      problems.push(new ConfigError(inv.file, undefined, where, message, hint));
      continue;
    }
    const own = portVars(expanded.port, `${inv.file} ${where}`);
    for (const [k, v] of sourced(inv.file, vars, where)) own.set(k, v);
    for (const host of expanded.hosts) addHost(inv, name, host, own);
  }
  for (const [k, v] of sourced(inv.file, body.vars, `${path}.vars`)) g.vars.set(k, v);
  for (const [child, childBody] of Object.entries(mappingOr(body.children))) {
    if (!g.children.includes(child)) g.children.push(child);
    readGroup(inv, child, childBody, `${path}.children.${child}`, problems);
  }
}

/**
 * Variables from Ansible's group_vars/ and host_vars/ folders next to the inventory, where kubespray
 * keeps the cluster's settings (group_vars/k8s_cluster/k8s-cluster.yml), found as Ansible's
 * host_group_vars plugin finds them: for a name, the first of `NAME`, `NAME.yml`, `NAME.yaml`,
 * `NAME.json` that exists (a folder: its files without extension or with one of those, in depth,
 * hidden ones and backups `~` skipped). Returns the files it read, and those it did not with why:
 * for a group or host the inventory does not have, or behind another file of the same name.
 */
export function readVarsFolders(inv: AnsibleInventory, problems: ConfigError[]): { read: string[]; unused: Array<{ file: string; why: string }> } {
  const read: string[] = [];
  const unused: Array<{ file: string; why: string }> = [];
  const base = dirname(inv.file);
  for (const [folder, target] of [
    ['group_vars', (name: string) => inv.groups.get(name)?.vars],
    ['host_vars', (name: string) => inv.hosts.get(name)],
  ] as const) {
    for (const { name, first, files, shadowed } of varsFiles(join(base, folder))) {
      const vars = target(name);
      if (!vars) {
        unused.push(...[...files, ...shadowed].map((file) => ({ file, why: 'names a group or host the inventory does not have, so Ansible applies it to no host' })));
        continue;
      }
      unused.push(...shadowed.map((file) => ({ file, why: `Ansible reads ${first} for ${name}, and not this file` })));
      for (const file of files) {
        read.push(file);
        try {
          for (const [k, v] of sourced(file, parse(readFileSync(file, 'utf8')), '')) vars.set(k, v);
        } catch (err) {
          problems.push(new ConfigError(file, undefined, undefined, `is not valid YAML: ${(err as Error).message}`, 'fix the YAML syntax'));
        }
      }
    }
  }
  return { read, unused };
}

const VARS_EXTENSIONS = ['.yml', '.yaml', '.json'];
const isDirectory = (path: string) => existsSync(path) && statSync(path).isDirectory();
const visible = (entry: string) => !entry.startsWith('.') && !entry.endsWith('~');

function varsFiles(folder: string): Array<{ name: string; first: string; files: string[]; shadowed: string[] }> {
  if (!isDirectory(folder)) return [];
  const names = [
    ...new Set(
      readdirSync(folder)
        .filter(visible)
        .map((entry) => (VARS_EXTENSIONS.includes(extname(entry)) ? entry.slice(0, -extname(entry).length) : entry)),
    ),
  ].sort();
  return names.map((name) => {
    const [first, ...shadowed] = ['', ...VARS_EXTENSIONS].map((ext) => join(folder, name + ext)).filter((path) => existsSync(path)) as [string, ...string[]];
    return { name, first, files: isDirectory(first) ? filesInDepth(first) : [first], shadowed };
  });
}

/** A vars folder's files as Ansible takes them: without extension or a YAML/JSON one, subfolders in depth, in name order. */
function filesInDepth(folder: string): string[] {
  return readdirSync(folder)
    .filter(visible)
    .sort()
    .flatMap((entry) => {
      const path = join(folder, entry);
      const ext = extname(entry);
      if (isDirectory(path)) return ext ? [] : filesInDepth(path);
      return !ext || VARS_EXTENSIONS.includes(ext) ? [path] : [];
    });
}

/** Variables of a mapping; each is said to be at the file and the mapping's YAML path (its key is said with it). */
function sourced(file: string, vars: unknown, path: string): Map<string, Sourced> {
  const where = path ? `${file} ${path}` : file;
  return new Map(Object.entries(mappingOr(vars)).map(([k, v]) => [k, { value: v as AnsibleValue, where }]));
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mappingOr(value: unknown): Record<string, unknown> {
  return isMapping(value) ? value : {};
}
