/**
 * An Ansible inventory as kubeasz and kubespray write it, whatever the file format: hosts with their
 * variables, groups with their hosts, child groups and variables. Every value keeps where it was
 * written (file, line or YAML path), so the import can say where each value it carried over, or
 * left behind, came from.
 */

/** A value as Ansible reads it: INI values go through Python's literal_eval, YAML keeps its types. */
export type AnsibleValue = string | number | boolean | null | AnsibleValue[] | { [key: string]: AnsibleValue };

export interface Sourced {
  value: AnsibleValue;
  /** Where it was written, e.g. `hosts:48 [all:vars]` or `hosts.yaml all.hosts.node1.ip`. */
  where: string;
}

export interface AnsibleGroup {
  name: string;
  hosts: string[];
  children: string[];
  vars: Map<string, Sourced>;
}

export interface AnsibleInventory {
  file: string;
  /** Hosts in the order they first appear, each with the variables set on the host itself. */
  hosts: Map<string, Map<string, Sourced>>;
  groups: Map<string, AnsibleGroup>;
  /** Variables given to every play, above all others (kubeasz passes its config.yml as `-e @config.yml`). */
  extra: Map<string, Sourced>;
}

export function emptyInventory(file: string): AnsibleInventory {
  return { file, hosts: new Map(), groups: new Map([['all', newGroup('all')]]), extra: new Map() };
}

export function newGroup(name: string): AnsibleGroup {
  return { name, hosts: [], children: [], vars: new Map() };
}

export function group(inv: AnsibleInventory, name: string): AnsibleGroup {
  let g = inv.groups.get(name);
  if (!g) {
    g = newGroup(name);
    inv.groups.set(name, g);
  }
  return g;
}

/** Adds a host to a group (and to the inventory), merging variables; a later value wins, as in Ansible. */
export function addHost(inv: AnsibleInventory, groupName: string, host: string, vars: ReadonlyMap<string, Sourced> = new Map()): void {
  const own = inv.hosts.get(host) ?? new Map<string, Sourced>();
  for (const [k, v] of vars) own.set(k, v);
  inv.hosts.set(host, own);
  const g = group(inv, groupName);
  if (!g.hosts.includes(host)) g.hosts.push(host);
}

/** Every host of a group, through its children (a cycle is not followed twice). */
export function groupMembers(inv: AnsibleInventory, name: string, seen = new Set<string>()): string[] {
  if (name === 'all') return [...inv.hosts.keys()];
  if (seen.has(name)) return [];
  seen.add(name);
  const g = inv.groups.get(name);
  if (!g) return [];
  return [...new Set([...g.hosts, ...g.children.flatMap((c) => groupMembers(inv, c, seen))])];
}

/** The groups a host belongs to, directly or through a child group; `all` included. */
export function hostGroups(inv: AnsibleInventory, host: string): string[] {
  return [...inv.groups.keys()].filter((name) => groupMembers(inv, name).includes(host));
}

/**
 * A group's depth below `all`, as Ansible orders group variables: a child's variables override its
 * parents'. A group nobody lists as a child sits right below `all`.
 */
function depth(inv: AnsibleInventory, name: string, seen = new Set<string>()): number {
  if (name === 'all') return 0;
  if (seen.has(name)) return 1;
  seen.add(name);
  const parents = [...inv.groups.values()].filter((g) => g.children.includes(name) && g.name !== 'all');
  return 1 + Math.max(0, ...parents.map((p) => depth(inv, p.name, seen)));
}

/**
 * A host's variables as Ansible resolves them: `all`'s, then its groups' from the shallowest to the
 * deepest (ties by name, as Ansible sorts them), then the host's own, then extra variables.
 */
export function effectiveVars(inv: AnsibleInventory, host: string): Map<string, Sourced> {
  const groups = hostGroups(inv, host)
    .map((name) => ({ name, depth: depth(inv, name) }))
    .sort((a, b) => a.depth - b.depth || a.name.localeCompare(b.name));
  const vars = new Map<string, Sourced>();
  for (const g of groups) for (const [k, v] of inv.groups.get(g.name)!.vars) vars.set(k, v);
  for (const [k, v] of inv.hosts.get(host) ?? []) vars.set(k, v);
  for (const [k, v] of inv.extra) vars.set(k, v);
  return vars;
}
