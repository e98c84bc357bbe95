import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { firstHosts } from '../config/config-checks.js';
import type { InventoryInput, Role } from '../config/inventory-schema.js';
import { KNOWN_KEYS, type KnownKey } from '../config/keys.js';
import { networkAddress, parseCidr } from '../config/validators.js';
import { ConfigError } from '../errors.js';
import { effectiveVars, groupMembers, hostGroups, type AnsibleInventory, type AnsibleValue, type Sourced } from './ansible-inventory.js';
import type { CarriedProperty, ReportItem } from './report-schema.js';
import { ANSIBLE_SETTINGS, CONNECTION_VARS, describe, isPropertyMapping, looksSecret, SECRET_VARS, textValue, type Conversion, type Flavour } from './flavours.js';

export type { CarriedProperty, ReportItem };

/**
 * From an Ansible inventory to kubestrap's inventory and properties. Every variable of the source is
 * accounted for: carried over (a property, an inventory field), settled (it says what kubestrap does
 * anyway), or left behind with where it was and why. The last step sweeps the inventory for any
 * value no step looked at, so that nothing can be dropped without a line in the report.
 */
export interface Translation {
  inventory: InventoryInput;
  properties: CarriedProperty[];
  /** Values kubestrap took in another form, e.g. a node name it had to change. */
  adjusted: ReportItem[];
  /** Values kubestrap already does the same way, so no key is written. */
  settled: ReportItem[];
  /** Everything not carried over. */
  leftBehind: ReportItem[];
}

type HostInput = InventoryInput['hosts'][number];
type SshFields = NonNullable<HostInput['ssh']>;

export function translate(inv: AnsibleInventory, flavour: Flavour, opts: { cluster?: string } = {}): Translation {
  return new Translator(inv, flavour).run(opts);
}

class Translator {
  private readonly seen = new Set<Sourced>();
  private readonly properties: CarriedProperty[] = [];
  private readonly adjusted: ReportItem[] = [];
  private readonly settled: ReportItem[] = [];
  private readonly leftBehind: ReportItem[] = [];

  constructor(
    private readonly inv: AnsibleInventory,
    private readonly flavour: Flavour,
  ) {}

  run(opts: { cluster?: string }): Translation {
    const roleHosts = this.roleHosts();
    if (roleHosts.length === 0) throw this.noHosts();
    const hosts = roleHosts.map(({ name, roles }) => this.host(name, roles));
    const jump = this.jumpHost();
    const ssh = hoistSsh(hosts);
    this.schedulableMasters(roleHosts);
    this.clusterVariables(roleHosts.map((h) => h.name));
    this.deriveDnsAddress();
    this.noteDefaultVersion();
    const cluster = this.clusterName(opts.cluster, roleHosts[0]!.name);
    this.reportOtherGroups();
    this.sweep(roleHosts.map((h) => h.name));
    const topSsh = { ...ssh, ...(jump ? { jump } : {}) };
    return {
      inventory: { cluster, ...(Object.keys(topSsh).length ? { ssh: topSsh } : {}), hosts },
      properties: this.properties,
      adjusted: this.adjusted,
      settled: this.settled,
      leftBehind: this.leftBehind,
    };
  }

  /**
   * Both tools keep a master off ordinary pods unless it is in the worker group too; kubestrap says
   * it once for every master (MASTER_SCHEDULABLE).
   */
  private schedulableMasters(hosts: Array<{ name: string; roles: Role[] }>): void {
    const workerGroups = Object.keys(this.flavour.roles).filter((g) => !this.flavour.roles[g]!.includes('master') && this.flavour.roles[g]!.includes('worker'));
    const inWorkerGroup = (host: string) => hostGroups(this.inv, host).some((g) => workerGroups.includes(g));
    const masters = hosts.filter((h) => h.roles.includes('master')).map((h) => h.name);
    const schedulable = masters.filter(inWorkerGroup);
    const where = `${this.inv.file} (${workerGroups.filter((g) => this.inv.groups.has(g)).join(', ')})`;
    if (schedulable.length === masters.length) {
      this.properties.push({ key: 'MASTER_SCHEDULABLE', value: 'true', from: [`every master is in ${workerGroups.join(' or ')} too: ${this.flavour.format} lets it take ordinary pods`] });
    } else if (schedulable.length === 0) {
      this.settled.push({
        name: 'masters',
        value: masters.join(', '),
        where,
        why: `are in no worker group: ${this.flavour.format} keeps them off ordinary pods, as kubestrap does (MASTER_SCHEDULABLE=false taints them)`,
      });
    } else {
      this.leave({
        name: 'masters in a worker group',
        value: schedulable.join(', '),
        where,
        why: `kubestrap lets every master take ordinary pods or none (MASTER_SCHEDULABLE); these take them in ${this.flavour.format}, ${masters.filter((m) => !schedulable.includes(m)).join(', ')} do not: all are tainted`,
        hint: 'set MASTER_SCHEDULABLE=true to let every master take pods',
      });
    }
  }

  private roleHosts(): Array<{ name: string; roles: Role[] }> {
    return [...this.inv.hosts.keys()].flatMap((name) => {
      const groups = hostGroups(this.inv, name);
      const roles = [...new Set(groups.flatMap((g) => this.flavour.roles[g] ?? []))];
      if (roles.length) return [{ name, roles: (['etcd', 'master', 'worker'] as const).filter((r) => roles.includes(r)) }];
      if (this.flavour.jumpGroup && groups.includes(this.flavour.jumpGroup)) return [];
      const other = groups.filter((g) => g !== 'all' && g !== 'ungrouped');
      this.leave({ name, where: this.inv.file, why: `is in none of the groups kubestrap takes roles from (${this.roleGroups()})${other.length ? `, only in ${other.join(', ')}` : ''}` });
      return [];
    });
  }

  private noHosts(): ConfigError {
    const empty = Object.keys(this.flavour.roles).filter((g) => this.inv.groups.has(g) && groupMembers(this.inv, g).length === 0);
    return new ConfigError(
      this.inv.file,
      undefined,
      undefined,
      `has no host in the groups kubestrap takes roles from (${this.roleGroups()})${empty.length ? `: ${empty.join(', ')} ${empty.length === 1 ? 'is' : 'are'} empty` : ''}`,
      'list the hosts under those groups (a sample inventory has its host lines commented out: remove the leading "#")',
    );
  }

  private roleGroups(): string {
    return Object.keys(this.flavour.roles).join(', ');
  }

  /** One inventory host: name, addresses, roles and how to log in. */
  private host(ansibleName: string, roles: Role[]): HostInput {
    const vars = effectiveVars(this.inv, ansibleName);
    const address = this.connection(vars, 'address') ?? ansibleName;
    const internal = this.flavour.internalAddressVar ? this.textOf(vars.get(this.flavour.internalAddressVar), this.flavour.internalAddressVar) : undefined;
    const ssh = this.sshOf(vars);
    this.hostNotes(vars, internal ?? address);
    for (const [key, field] of Object.entries(SECRET_VARS)) {
      const secret = vars.get(key);
      if (secret)
        this.leave(
          {
            name: key,
            where: secret.where,
            why: 'is a secret: an inventory holds only the name of an environment variable that holds it',
            hint: `put it in an environment variable and set ssh.${field} to its name`,
          },
          secret,
          false,
        );
    }
    return {
      name: this.nodeName(ansibleName, vars),
      address,
      ...(internal !== undefined && internal !== address ? { internalAddress: internal } : {}),
      roles,
      ...(Object.keys(ssh).length ? { ssh } : {}),
    };
  }

  /** Host variables kubestrap reads but has no field for; one that holds the address kubestrap uses anyway is settled. */
  private hostNotes(vars: Map<string, Sourced>, nodeIp: string): void {
    for (const [key, why] of Object.entries(this.flavour.hostNotes)) {
      const source = vars.get(key);
      if (!source) continue;
      if (source.value === nodeIp) {
        this.seen.add(source);
        this.settled.push({ name: key, value: nodeIp, where: source.where, why: "is the address kubestrap's hosts use for this one (internalAddress, else address)" });
      } else this.leaveVar(key, source, why);
    }
  }

  private nodeName(ansibleName: string, vars: Map<string, Sourced>): string {
    const set = this.flavour.nodeNameVar ? this.textOf(vars.get(this.flavour.nodeNameVar), this.flavour.nodeNameVar) : undefined;
    const tools = set ? set.toLowerCase().replaceAll('_', '-') : this.flavour.defaultNodeName(ansibleName, vars);
    const name = tools
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63);
    if (name !== tools) {
      this.adjusted.push({
        name: ansibleName,
        value: name,
        where: vars.get(this.flavour.nodeNameVar ?? '')?.where ?? this.inv.file,
        why: `${this.flavour.format} names its node ${tools}; kubestrap's host names (which become node names) are lower-case letters, digits and "-", so it is ${name}`,
        hint: 'an existing cluster keeps its Node objects under their old names: check `kubectl get nodes` before taking it over',
      });
    }
    return name;
  }

  private sshOf(vars: Map<string, Sourced>): SshFields {
    const user = this.connection(vars, 'user');
    const keyFile = this.connection(vars, 'keyFile');
    if (keyFile !== undefined) this.noteRelativeKeyFile(keyFile, vars);
    const port = this.port(vars);
    return { ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}), ...(keyFile !== undefined ? { keyFile } : {}) };
  }

  /** Ansible hands a relative key file to ssh, which opens it from the folder ansible-playbook runs in; kubestrap opens it from inventory.yaml's. */
  private noteRelativeKeyFile(keyFile: string, vars: Map<string, Sourced>): void {
    if (isAbsolute(keyFile) || keyFile === '~' || keyFile.startsWith('~/') || this.adjusted.some((a) => a.value === keyFile && a.name.endsWith('key_file'))) return;
    const name = CONNECTION_VARS.keyFile.find((k) => vars.has(k))!;
    this.adjusted.push({
      name,
      value: keyFile,
      where: vars.get(name)!.where,
      why: "is a relative path: Ansible takes it from the folder it runs in, kubestrap from inventory.yaml's folder",
      hint: 'write the absolute path (or ~/...) in inventory.yaml',
    });
  }

  private port(vars: Map<string, Sourced>): number | undefined {
    const text = this.connection(vars, 'port');
    if (text === undefined) return undefined;
    if (/^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535) return Number(text);
    const source = CONNECTION_VARS.port.map((k) => vars.get(k)).find(Boolean)!;
    this.leave({ name: 'ansible_port', value: text, where: source.where, why: 'is not a port (1-65535)' }, source);
    return undefined;
  }

  /** The first of a connection setting's variable names that is set, as text. */
  private connection(vars: Map<string, Sourced>, field: keyof typeof CONNECTION_VARS): string | undefined {
    for (const key of CONNECTION_VARS[field]) {
      const value = this.textOf(vars.get(key), key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /** A variable's text, marked as read; undefined when unset or empty, left behind when it is not one value. */
  private textOf(source: Sourced | undefined, name: string): string | undefined {
    if (!source) return undefined;
    this.seen.add(source);
    const converted = textValue(source.value);
    if (!('value' in converted)) {
      if (source.value !== null) this.leave({ name, value: describe(source.value), where: source.where, why: 'refused' in converted ? converted.refused : 'is not one value' }, source);
      return undefined;
    }
    if (/\{\{|\{%/.test(converted.value)) {
      this.leave(
        {
          name,
          value: converted.value,
          where: source.where,
          why: 'is an Ansible (Jinja) expression, which only Ansible evaluates',
          hint: 'write the value it stands for in the inventory, or set it in the imported files',
        },
        source,
      );
      return undefined;
    }
    return converted.value === '' ? undefined : converted.value;
  }

  /** kubespray's bastion: the jump host of every other host. */
  private jumpHost(): { address: string; user?: string; port?: number } | undefined {
    const group = this.flavour.jumpGroup;
    if (!group) return undefined;
    const [first, ...rest] = groupMembers(this.inv, group);
    if (!first) return undefined;
    for (const other of rest)
      this.leave({ name: other, where: this.inv.file, why: `is a second host in [${group}]; kubestrap has one jump host`, hint: 'set ssh.jump on the hosts that need another one' });
    const vars = effectiveVars(this.inv, first);
    const address = this.connection(vars, 'address') ?? first;
    const { user, port } = this.sshOf(vars);
    this.adjusted.push({ name: first, value: address, where: this.inv.file, why: `[${group}] becomes the jump host (ssh.jump) of every host` });
    return { address, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) };
  }

  /**
   * Each of the tool's cluster variables, as every imported host sees it: one value carried over,
   * settled or refused; values that differ between hosts are left behind, since a property holds
   * one value for the cluster.
   */
  private clusterVariables(hosts: string[]): void {
    const perHost = hosts.map((h) => effectiveVars(this.inv, h));
    for (const [name, mapping] of Object.entries(this.flavour.variables)) {
      const sources = [...new Set(perHost.flatMap((vars) => vars.get(name) ?? []))];
      const [source] = sources;
      if (!source) continue;
      if (new Set(sources.map((s) => JSON.stringify(s.value))).size > 1) {
        for (const s of sources) this.leave({ name, value: describe(s.value), where: s.where, why: 'differs between hosts; a property has one value for the whole cluster' }, s);
        continue;
      }
      for (const s of sources.slice(1)) this.seen.add(s);
      const value = resolveReference(source.value, perHost[0]!);
      if (isPropertyMapping(mapping)) this.carry(name, source, (mapping.convert ?? textValue)(value), mapping.key);
      else this.settle(name, source, value, mapping.settled);
    }
  }

  private settle(name: string, source: Sourced, value: AnsibleValue, settled: (value: string) => Conversion): void {
    const text = textValue(value);
    const result = 'value' in text ? settled(text.value) : text;
    if ('same' in result) {
      this.seen.add(source);
      this.settled.push({ name, value: describe(value), where: source.where, why: result.same });
    } else this.refuse(name, source, value, result);
  }

  private carry(name: string, source: Sourced, converted: Conversion, key: KnownKey): void {
    if (!('value' in converted)) {
      this.refuse(name, source, source.value, converted);
      return;
    }
    const refusal = this.propertyRefusal(key, converted.value);
    if (refusal) {
      // A converted value is shown with what was written (CERT_EXPIRY 438000h is 18250 days).
      const written = textValue(source.value);
      const value = 'value' in written && written.value !== converted.value ? `${written.value} (${converted.value})` : converted.value;
      this.leave({ name, value, where: source.where, ...refusal }, source);
      return;
    }
    this.seen.add(source);
    const from = `${name} (${source.where})`;
    const earlier = this.properties.find((p) => p.key === key);
    if (earlier) earlier.from.push(from);
    else this.properties.push({ key, value: converted.value, from: [from] });
  }

  /** Why a value cannot be the property: an expression, the key's own check, or another value already carried. */
  private propertyRefusal(key: KnownKey, value: string): { why: string; hint?: string } | undefined {
    if (/\{\{|\{%/.test(value)) return { why: 'is an Ansible (Jinja) expression, which only Ansible evaluates', hint: `set ${key} in the imported config.properties to the value it stands for` };
    const problem = KNOWN_KEYS[key].check(value);
    if (problem) return { why: `as ${key}: ${problem.message}`, ...(problem.hint ? { hint: problem.hint } : {}) };
    const earlier = this.properties.find((p) => p.key === key);
    if (earlier && earlier.value !== value) return { why: `${key} is already ${earlier.value}, from ${earlier.from.join(', ')}` };
    return undefined;
  }

  private refuse(name: string, source: Sourced, value: AnsibleValue, result: Conversion): void {
    const why = 'refused' in result ? result.refused : 'is not carried over';
    this.leave({ name, value: describe(value), where: source.where, why, ...('hint' in result && result.hint ? { hint: result.hint } : {}) }, source);
  }

  /**
   * The cluster DNS address as the tool picks it from the Service range, so a cluster taken over
   * keeps its DNS Service where its pods' resolv.conf point.
   */
  private deriveDnsAddress(): void {
    const service = this.properties.find((p) => p.key === 'SERVICE_CIDR');
    const cidr = service && parseCidr(service.value);
    if (!cidr || this.properties.some((p) => p.key === 'CLUSTER_DNS_SVC_IP')) return;
    const index = this.flavour.dnsServiceIndex;
    this.properties.push({
      key: 'CLUSTER_DNS_SVC_IP',
      value: firstHosts(networkAddress(cidr), index)[index - 1]!,
      from: [`SERVICE_CIDR's address number ${index}, where ${this.flavour.format} puts the cluster DNS`],
    });
  }

  /** A cluster taken over must keep its Kubernetes version: say so when the inventory gave none kubestrap accepts. */
  private noteDefaultVersion(): void {
    if (this.properties.some((p) => p.key === 'KUBE_VERSION')) return;
    const names = Object.entries(this.flavour.variables)
      .filter(([, m]) => isPropertyMapping(m) && m.key === 'KUBE_VERSION')
      .map(([name]) => name);
    this.leave({
      name: 'Kubernetes version',
      where: this.inv.file,
      why: `no version kubestrap accepts was found (${names.join(', ')}): KUBE_VERSION takes kubestrap's default, ${KNOWN_KEYS.KUBE_VERSION.default}`,
      hint: 'set KUBE_VERSION in config.properties to the version the cluster runs (kubectl version), if it already runs',
    });
  }

  /** --cluster, else the name the tool gave the cluster, else the inventory's folder (kubespray's inventory/NAME/, kubeasz's clusters/NAME/). */
  private clusterName(given: string | undefined, firstHost: string): string {
    if (given !== undefined) return given;
    const variable = this.flavour.clusterNameVar;
    const source = variable ? effectiveVars(this.inv, firstHost).get(variable) : undefined;
    const named = source && this.flavour.clusterNameOf?.(source.value);
    if (source && named) this.seen.add(source);
    const name = (named ?? basename(dirname(resolve(this.inv.file))))
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/, '');
    const cluster = name === '' ? 'imported' : name;
    this.adjusted.push({
      name: 'cluster',
      value: cluster,
      where: source && named ? `${source.where} ${variable}` : "the inventory's folder name",
      why: 'names the cluster in the inventory (and its state folder .kubestrap/<cluster>)',
      hint: 'pass --cluster NAME to choose another',
    });
    return cluster;
  }

  private reportOtherGroups(): void {
    for (const [group, why] of Object.entries(this.flavour.otherGroups)) {
      const members = groupMembers(this.inv, group);
      if (members.length) this.leave({ name: `[${group}]`, value: members.join(', '), where: this.inv.file, why });
    }
    // A group the tool's table does not know (kubespray 2.x's vault, one of the operator's own) holds
    // hosts for some purpose kubestrap does not carry; groups of groups only gather known ones.
    const { roles, otherGroups, jumpGroup, dynamicGroups = {} } = this.flavour;
    const known = new Set([
      'all',
      'ungrouped',
      ...Object.keys(roles),
      ...Object.keys(otherGroups),
      ...(jumpGroup ? [jumpGroup] : []),
      ...Object.keys(dynamicGroups),
      ...Object.values(dynamicGroups).flat(),
    ]);
    for (const g of this.inv.groups.values()) {
      if (known.has(g.name) || g.hosts.length === 0) continue;
      this.leave({ name: `[${g.name}]`, value: g.hosts.join(', '), where: this.inv.file, why: 'kubestrap gives this group no role or setting: its hosts are imported for their other groups only' });
    }
  }

  /** Whatever no step read: left behind, with why as precisely as can be said. */
  private sweep(imported: string[]): void {
    const read = new Set<string>([
      ...Object.keys(this.flavour.variables),
      ...Object.values(CONNECTION_VARS).flat(),
      ...[this.flavour.nodeNameVar, this.flavour.internalAddressVar, this.flavour.clusterNameVar].filter((v): v is string => v !== undefined),
    ]);
    const owners: Array<[string[], Map<string, Sourced>]> = [
      ...[...this.inv.groups.values()].map((g): [string[], Map<string, Sourced>] => [groupMembers(this.inv, g.name), g.vars]),
      ...[...this.inv.hosts].map(([host, vars]): [string[], Map<string, Sourced>] => [[host], vars]),
      [[...this.inv.hosts.keys()], this.inv.extra],
    ];
    for (const [members, vars] of owners) {
      for (const [name, source] of vars) {
        if (this.seen.has(source)) continue;
        const why = !members.some((m) => imported.includes(m))
          ? 'applies to no host kubestrap imports'
          : read.has(name)
            ? 'is overridden on every imported host it applies to'
            : (ANSIBLE_SETTINGS[name] ?? 'kubestrap has no setting for it');
        this.leave({ name, value: describe(source.value), where: source.where, why }, source);
      }
    }
  }

  private leaveVar(name: string, source: Sourced | undefined, why: string): void {
    if (source) this.leave({ name, value: describe(source.value), where: source.where, why }, source);
  }

  /** Records an item left behind; a source variable is reported once, and its value only when `show`. */
  private leave(item: ReportItem, source?: Sourced, show = true): void {
    if (source) {
      if (this.seen.has(source) && this.leftBehind.some((l) => l.where === item.where && l.name === item.name)) return;
      this.seen.add(source);
    }
    const { value, ...rest } = item;
    this.leftBehind.push(show && value !== undefined && !looksSecret(item.name) ? item : rest);
  }
}

/** `{{ other }}` naming one variable of the host is that variable's value (kubespray's dns_domain: "{{ cluster_name }}"). */
function resolveReference(value: AnsibleValue, vars: Map<string, Sourced>): AnsibleValue {
  const m = typeof value === 'string' ? /^\{\{\s*([A-Za-z_]\w*)\s*\}\}$/.exec(value) : null;
  const target = m ? vars.get(m[1]!) : undefined;
  return target && !(typeof target.value === 'string' && /\{\{|\{%/.test(target.value)) ? target.value : value;
}

/** SSH settings every host shares move to the inventory's top-level `ssh`. */
function hoistSsh(hosts: HostInput[]): SshFields {
  const shared: SshFields = {};
  for (const field of ['user', 'port', 'keyFile'] as const) {
    const values = new Set(hosts.map((h) => h.ssh?.[field]));
    const [only] = values;
    if (values.size !== 1 || only === undefined) continue;
    Object.assign(shared, { [field]: only });
    for (const h of hosts) {
      delete h.ssh![field];
      if (Object.keys(h.ssh!).length === 0) delete h.ssh;
    }
  }
  return shared;
}
