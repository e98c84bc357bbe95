import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, InvalidInputError } from '../errors.js';
import { parseAnsibleIni } from './ansible-ini.js';
import { emptyInventory, group, groupMembers, type AnsibleInventory } from './ansible-inventory.js';
import { parseAnsibleYaml, readVarsFolders } from './ansible-yaml.js';
import { FLAVOURS, type ImportFormat } from './flavours.js';
import { translate, type Translation } from './translate.js';

export interface ImportResult extends Translation {
  format: ImportFormat;
  /** Every file read: the inventory, group_vars/ and host_vars/ files, kubeasz's config.yml. */
  read: string[];
}

export interface ImportOptions {
  /** kubeasz or kubespray; found from the inventory's groups when not given. */
  from?: ImportFormat;
  cluster?: string;
}

/** Reads a kubeasz or kubespray inventory (with the files beside it that hold its variables) and translates it. */
export function importInventory(file: string, opts: ImportOptions = {}): ImportResult {
  const inv = readInventory(file);
  const format = opts.from ?? detectFormat(inv);
  addDynamicGroups(inv, FLAVOURS[format].dynamicGroups ?? {});
  const problems: ConfigError[] = [];
  const vars = readVarsFolders(inv, problems);
  const config = format === 'kubeasz' ? readKubeaszConfig(inv, problems) : [];
  if (problems.length) throw new InvalidInputError(problems);
  const translation = translate(inv, FLAVOURS[format], opts.cluster === undefined ? {} : { cluster: opts.cluster });
  for (const { file: unused, why } of vars.unused) {
    translation.leftBehind.push({ name: basename(unused), where: unused, why });
  }
  return { ...translation, format, read: [file, ...vars.read, ...config] };
}

/** A group made at run time holds the groups it is made of, as children: their hosts get its group_vars. */
function addDynamicGroups(inv: AnsibleInventory, dynamic: Readonly<Record<string, readonly string[]>>): void {
  for (const [name, sources] of Object.entries(dynamic)) {
    const present = sources.filter((s) => inv.groups.has(s));
    if (present.length === 0) continue;
    const target = group(inv, name);
    for (const source of present) if (!target.children.includes(source) && source !== name) target.children.push(source);
  }
}

function readInventory(file: string): AnsibleInventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError([
      new ConfigError(file, undefined, undefined, `cannot read the inventory: ${(err as Error).message}`, "pass kubeasz's clusters/NAME/hosts or kubespray's inventory.ini or hosts.yaml"),
    ]);
  }
  if (isYaml(file, text)) {
    const inv = emptyInventory(file);
    const problems = parseAnsibleYaml(text, file, inv);
    if (problems.length) throw new InvalidInputError(problems);
    return inv;
  }
  const { inventory, problems } = parseAnsibleIni(text, file);
  if (problems.length) throw new InvalidInputError(problems);
  return inventory;
}

/** By its name, else by its first line: an INI inventory opens with a [group] or a host line, a YAML one with `group:`. */
function isYaml(file: string, text: string): boolean {
  if (/\.(ya?ml|json)$/i.test(file)) return true;
  if (/\.ini$/i.test(file)) return false;
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !/^\s*[#;]/.test(l));
  return first !== undefined && /^[\w.-]+:\s*$/.test(first.trim()) && !first.trim().startsWith('[');
}

/** Groups only kubeasz's hosts files have, in every version (2.x: deploy, lb, new-*; then harbor, ex-lb, chrony). */
const KUBEASZ_ONLY_GROUPS = ['deploy', 'lb', 'new-master', 'new-node', 'new-etcd', 'harbor', 'ex-lb', 'ex_lb', 'chrony'];
/** Groups of kubespray's inventories that kubeasz never wrote: they win over a group of the operator's own that kubeasz also has (lb). */
const KUBESPRAY_ONLY_GROUPS = ['k8s-cluster', 'k8s_cluster', 'calico-rr', 'calico_rr', 'bastion'];

/**
 * kubeasz calls its masters kube_master; kubespray kube_control_plane. Both called them kube-master
 * once (kubeasz before 3.0, kubespray before 2.16): then kubeasz's own groups tell them apart.
 */
function detectFormat(inv: AnsibleInventory): ImportFormat {
  const has = (g: string) => inv.groups.has(g);
  const oldKubeasz = has('kube-master') && KUBEASZ_ONLY_GROUPS.some(has) && !KUBESPRAY_ONLY_GROUPS.some(has);
  const kubeasz = has('kube_master') || oldKubeasz;
  const kubespray = has('kube_control_plane') || (has('kube-master') && !oldKubeasz);
  if (kubeasz !== kubespray) return kubeasz ? 'kubeasz' : 'kubespray';
  const groups = [...inv.groups.keys()].filter((g) => g !== 'all' && g !== 'ungrouped' && (inv.groups.get(g)!.hosts.length || groupMembers(inv, g).length));
  throw new InvalidInputError([
    new ConfigError(
      inv.file,
      undefined,
      undefined,
      kubeasz
        ? "has both kubeasz's group kube_master and kubespray's kube_control_plane: which tool wrote it?"
        : `is neither a kubeasz nor a kubespray inventory: it has no group kube_master (kubeasz) or kube_control_plane (kubespray)${groups.length ? `, only ${groups.join(', ')}` : ''}`,
      'pass --from kubeasz or --from kubespray',
    ),
  ]);
}

/** `ezctl new` writes config.yml beside hosts; kubeasz's playbooks read it as extra variables. */
function readKubeaszConfig(inv: AnsibleInventory, problems: ConfigError[]): string[] {
  const file = join(dirname(inv.file), 'config.yml');
  if (!existsSync(file)) return [];
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(new ConfigError(file, undefined, undefined, `is not valid YAML: ${(err as Error).message}`, 'fix the YAML syntax'));
    return [];
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    problems.push(new ConfigError(file, undefined, undefined, "is not kubeasz's config.yml (a mapping of variables)", 'move it away from the hosts file, or fix it'));
    return [];
  }
  for (const [k, v] of Object.entries(doc)) inv.extra.set(k, { value: v, where: file });
  return [file];
}
