import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { InventoryError, type KubestrapError, type Warning } from '../errors.js';
import { HostSchema, InventorySchema, JumpHostSchema, SshSettingsSchema } from './inventory-schema.js';
import { HOST_DERIVED_KEYS, isKnownKey, KNOWN_KEYS } from './keys.js';
import { IDENTIFIER_PATTERN } from './properties.js';
import { SshConfig } from './ssh-config.js';
import { resolveSshHosts, type ResolvedInventory } from './ssh-targets.js';
import { didYouMean } from './suggest.js';
import { checkOneLine, isIPv4 } from './validators.js';
import { parseLocatedYaml, type LocatedYaml } from './yaml-locator.js';

export interface LoadedInventory {
  file: string;
  /** Relative paths in the inventory (key files, state dir) are resolved against this directory. */
  baseDir: string;
  /** The inventory with every host's SSH address and jump host filled in from ssh_config where it gives none. */
  inventory: ResolvedInventory;
}

export interface InventoryResult {
  loaded?: LoadedInventory;
  problems: KubestrapError[];
  warnings: Warning[];
}

type Path = ReadonlyArray<string | number>;

/** Reads the inventory; hosts it does not say how to reach are looked up in `sshConfig` (none: nothing is). */
export function loadInventory(file: string, sshConfig: SshConfig = SshConfig.read({ kind: 'none' })): InventoryResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { problems: [new InventoryError(file, [], undefined, `cannot read the inventory: ${(err as Error).message}`, 'pass an existing YAML file with -i')], warnings: [] };
  }
  return parseInventory(text, file, sshConfig);
}

export function parseInventory(text: string, file: string, sshConfig: SshConfig = SshConfig.read({ kind: 'none' })): InventoryResult {
  const yaml = parseLocatedYaml(text);
  if (yaml.errors.length) {
    return {
      problems: yaml.errors.map((e) => new InventoryError(file, [], e.line, `is not valid YAML: ${e.message}`, 'fix the YAML syntax at that line')),
      warnings: [],
    };
  }
  const parsed = InventorySchema.safeParse(yaml.value ?? {});
  if (!parsed.success) {
    return { problems: parsed.error.issues.flatMap((issue) => issueToErrors(issue, file, yaml)), warnings: [] };
  }
  const resolved = resolveSshHosts(parsed.data, sshConfig, (path, message, hint) => new InventoryError(file, path, yaml.lineOf(path), message, hint));
  if (!resolved.inventory) return { problems: resolved.problems, warnings: [] };
  const loaded: LoadedInventory = { file, baseDir: dirname(resolve(file)), inventory: resolved.inventory };
  const checker = new InventoryChecker(loaded, yaml);
  checker.run();
  return { loaded: checker.problems.length ? undefined : loaded, problems: checker.problems, warnings: checker.warnings };
}

/** Expands `~` and resolves relative paths against the inventory's directory. */
export function resolveInventoryPath(loaded: Pick<LoadedInventory, 'baseDir'>, path: string): string {
  if (path === '~' || path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(loaded.baseDir, path);
}

class InventoryChecker {
  readonly problems: InventoryError[] = [];
  readonly warnings: Warning[] = [];

  constructor(
    private readonly loaded: LoadedInventory,
    private readonly yaml: LocatedYaml,
  ) {}

  run(): void {
    const { hosts } = this.loaded.inventory;
    this.checkUnique(
      'name',
      hosts.map((h) => h.name),
      'give every host its own name',
    );
    const sameSsh = this.checkUnique(
      'address',
      hosts.map((h) => `${h.address}:${h.ssh?.port ?? this.loaded.inventory.ssh?.port ?? 22}`),
      'every host needs its own SSH address (or port)',
    );
    hosts.forEach((_, i) => this.checkHost(i));
    // A host already reported for its SSH address needs no second error for the same NODE_IP.
    this.checkUnique(
      'internalAddress',
      hosts.map((h, i) => (sameSsh.has(i) && !h.internalAddress ? `#${i}` : (h.internalAddress ?? h.address))),
      'two hosts cannot share a cluster address (NODE_IP)',
    );
    this.checkRoles();
    this.checkKeyFile(['ssh'], this.loaded.inventory.ssh?.keyFile);
    this.checkKeyFile(['ssh', 'jump'], this.loaded.inventory.ssh?.jump?.keyFile);
  }

  private fail(path: Path, message: string, hint?: string): void {
    this.problems.push(new InventoryError(this.loaded.file, path, this.yaml.lineOf(path), message, hint));
  }

  /** Reports each repeated value at its later occurrence; returns the indices reported. */
  private checkUnique(field: 'name' | 'address' | 'internalAddress', values: string[], hint: string): Set<number> {
    const first = new Map<string, number>();
    const repeated = new Set<number>();
    values.forEach((value, i) => {
      const earlier = first.get(value);
      if (earlier === undefined) {
        first.set(value, i);
        return;
      }
      repeated.add(i);
      const shown = field === 'address' ? value.replace(/:22$/, '') : value;
      this.fail(['hosts', i, field], `"${shown}" is already used by hosts[${earlier}]`, hint);
    });
    return repeated;
  }

  private checkHost(i: number): void {
    const host = this.loaded.inventory.hosts[i]!;
    if (host.internalAddress !== undefined && !isIPv4(host.internalAddress)) {
      this.fail(['hosts', i, 'internalAddress'], `"${host.internalAddress}" is not an IPv4 address`, 'write the IP the cluster uses for this host, e.g. 192.168.1.102');
    } else if (host.internalAddress === undefined && !isIPv4(host.address)) {
      this.fail(['hosts', i, 'address'], `"${host.address}" is a name, but the cluster needs this host's IP`, 'add internalAddress: <IPv4 address> to this host');
    }
    const duplicateRole = host.roles.find((role, j) => host.roles.indexOf(role) !== j);
    if (duplicateRole) this.fail(['hosts', i, 'roles'], `role "${duplicateRole}" is listed twice`, 'list each role once');
    this.checkKeyFile(['hosts', i, 'ssh'], host.ssh?.keyFile);
    this.checkKeyFile(['hosts', i, 'ssh', 'jump'], host.ssh?.jump?.keyFile);
    for (const [key, value] of Object.entries(host.properties ?? {})) this.checkHostProperty(i, key, value);
  }

  private checkHostProperty(i: number, key: string, value: string): void {
    const path = ['hosts', i, 'properties', key];
    const control = checkOneLine(value);
    if (control) {
      this.fail(path, control.message, control.hint);
    } else if (!IDENTIFIER_PATTERN.test(key)) {
      this.fail(path, `"${key}" is not a valid property key`, 'a key is letters, digits and _, starting with a letter or _');
    } else if ((HOST_DERIVED_KEYS as readonly string[]).includes(key)) {
      this.fail(path, `${key} comes from the inventory and cannot be overridden`, key === 'NODE_IP' ? "set this host's internalAddress instead" : "set this host's name instead");
    } else if (isKnownKey(key)) {
      const spec = KNOWN_KEYS[key];
      if (spec.scope === 'cluster') {
        this.fail(path, `${key} must be the same on every host`, 'set it in config.properties instead');
        return;
      }
      const problem = value === '' && 'optional' in spec && spec.optional ? undefined : spec.check(value);
      if (problem) this.fail(path, problem.message, problem.hint);
    } else {
      const guess = didYouMean(key, Object.keys(KNOWN_KEYS));
      if (guess) {
        this.warnings.push({
          where: `${this.loaded.file}:${this.yaml.lineOf(path) ?? '?'} hosts[${i}].properties.${key}`,
          message: `${key} is not a key kubestrap knows (it is passed to templates unchanged)`,
          hint: `did you mean ${guess}?`,
        });
      }
    }
  }

  /** What the cluster keeps once the hosts marked `remove: true` are gone: at least one etcd member and one master. */
  private checkRoles(): void {
    const { hosts } = this.loaded.inventory;
    const staying = hosts.filter((h) => h.remove !== true);
    const leaving = hosts.length - staying.length;
    const after = leaving ? ` once the ${leaving} host(s) marked remove: true are gone` : '';
    const keep = leaving ? '; remove fewer hosts at a time, or first add the role to a host that stays' : '';
    const etcd = staying.filter((h) => h.roles.includes('etcd')).length;
    if (etcd === 0) this.fail(['hosts'], `no host has the etcd role${after}`, `add "etcd" to the roles of one host (or three, for fault tolerance)${keep}`);
    if (!staying.some((h) => h.roles.includes('master'))) {
      this.fail(['hosts'], `no host has the master role${after}`, `add "master" to the roles of at least one host${keep}`);
    }
    if (etcd > 0 && etcd % 2 === 0) {
      this.warnings.push({
        where: `${this.loaded.file}:${this.yaml.lineOf(['hosts']) ?? '?'} hosts`,
        message: `${etcd} etcd members tolerate no more failures than ${etcd - 1}`,
        hint: 'an odd number of etcd members (1, 3, 5) gives the same fault tolerance with fewer hosts; an even count is fine while adding members one at a time',
      });
    }
  }

  private checkKeyFile(path: Path, keyFile: string | undefined): void {
    if (keyFile === undefined) return;
    const resolved = resolveInventoryPath(this.loaded, keyFile);
    const where = [...path, 'keyFile'];
    if (!existsSync(resolved)) {
      this.fail(where, `key file ${resolved} does not exist`, "point keyFile at an existing private key (relative paths start at the inventory's folder)");
    } else if (!statSync(resolved).isFile()) {
      this.fail(where, `key file ${resolved} is not a file`, 'point keyFile at a private key file');
    }
  }
}

/** Turns one zod issue into errors that name the YAML path, its line, and what would be valid. */
function issueToErrors(issue: z.core.$ZodIssue, file: string, yaml: LocatedYaml): InventoryError[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const make = (p: Path, line: number | undefined, message: string, hint?: string) => new InventoryError(file, p, line, message, hint);

  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const allowed = allowedFieldsAt(path);
        const guess = didYouMean(key, allowed);
        return make(
          [...path, key],
          yaml.lineOfKey(path, key),
          `unknown field "${key}"`,
          guess ? `did you mean "${guess}"? (valid fields: ${allowed.join(', ')})` : `valid fields here: ${allowed.join(', ')}`,
        );
      });
    case 'invalid_type': {
      const received = describeValue(valueAt(yaml.value, path));
      if (received === 'nothing') return [make(path, yaml.lineOf(path), `"${String(path.at(-1) ?? 'document')}" is missing`, `add it (${issue.expected} expected)`)];
      return [make(path, yaml.lineOf(path), `expected ${article(issue.expected)}, got ${received}`)];
    }
    case 'invalid_value':
      return [make(path, yaml.lineOf(path), `${JSON.stringify(valueAt(yaml.value, path))} is not allowed`, `write one of: ${issue.values.map(String).join(', ')}`)];
    case 'invalid_format':
      return [make(path, yaml.lineOf(path), `${JSON.stringify(valueAt(yaml.value, path))} is not valid`, `write ${issue.message}`)];
    default:
      return [make(path, yaml.lineOf(path), issue.message)];
  }
}

function allowedFieldsAt(path: Path): string[] {
  const shapeKeys = (schema: { shape: object }) => Object.keys(schema.shape);
  const last = path.at(-1);
  if (path.length === 0) return shapeKeys(InventorySchema);
  if (last === 'jump') return shapeKeys(JumpHostSchema);
  if (last === 'ssh') return [...shapeKeys(SshSettingsSchema), 'jump', ...(path.length === 1 ? ['knownHosts'] : [])];
  if (path[0] === 'hosts' && path.length === 2) return shapeKeys(HostSchema);
  return [];
}

function valueAt(root: unknown, path: Path): unknown {
  let node: unknown = root;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

function describeValue(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function article(expected: string): string {
  if (expected === 'array') return 'a list';
  if (expected === 'object') return 'a mapping';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}
