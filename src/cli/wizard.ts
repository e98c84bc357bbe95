import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { stringify } from 'yaml';
import { loadClusterSpec } from '../config/cluster-spec.js';
import { ROLES, type Role } from '../config/inventory-schema.js';
import { firstHosts } from '../config/config-checks.js';
import { KNOWN_KEYS } from '../config/keys.js';
import { networkAddress, parseCidr } from '../config/validators.js';
import { InvalidInputError, InventoryError, type KubestrapError } from '../errors.js';
import { ensureRealDir, lstatOrUndefined, writeFresh } from '../fresh-file.js';
import { UsageError } from './usage-error.js';

/** The prompt library loads only when a prompt is shown: 0.15 s that no other command should pay. */
const prompts = () => import('@inquirer/prompts');

/** Where the prompts read and write: the terminal, or a test's streams. */
export interface PromptStreams {
  input: Readable;
  output: Writable;
}

export interface WizardHost {
  name: string;
  address: string;
  roles: Role[];
}

export interface WizardAnswers {
  cluster: string;
  hosts: WizardHost[];
  sshUser: string;
  keyFile: string;
  /** config.properties values the user chose. */
  properties: Record<string, string>;
}

/** The questions `init` asks about properties, in order. */
const ASKED_KEYS = ['KUBE_VERSION', 'SERVICE_CIDR', 'CLUSTER_CIDR'] as const;

/**
 * `bootstrap init` without -i/-c on a terminal: asks for hosts, roles, SSH login, version and
 * networks, checking every answer with the same checks a hand-written inventory and
 * config.properties get (each candidate is loaded exactly as `apply` would load it), then writes
 * both files.
 */
export async function askCluster(streams: PromptStreams, versions: readonly string[]): Promise<WizardAnswers> {
  const { checkbox, input, select } = await prompts();
  const ctx = { input: streams.input, output: streams.output, clearPromptOnDone: false };
  const answers: WizardAnswers = { cluster: 'k8s', hosts: [], sshUser: 'root', keyFile: defaultKeyFile(), properties: {} };
  const problemsWith = (candidate: WizardAnswers, subject: (e: KubestrapError) => boolean) => loadProblems(candidate).filter(subject);

  answers.cluster = await input({ message: 'Cluster name', default: answers.cluster, validate: (v) => firstProblem(problemsWith({ ...answers, cluster: v }, atPath('cluster'))) }, ctx);
  for (;;) {
    const n = answers.hosts.length + 1;
    const address = await input(
      {
        message: `Address of host ${n} (IP or DNS name${n > 1 ? '; empty when done' : ''})`,
        validate: (v) => (v === '' && n > 1) || firstProblem(problemsWith(withHost(answers, { name: `node${n}`, address: v, roles: ['worker'] }), atPath('hosts', n - 1, 'address'))),
      },
      ctx,
    );
    if (address === '') break;
    const name = await input(
      {
        message: `Name of ${address} (becomes its node name)`,
        default: `node${n}`,
        validate: (v) => firstProblem(problemsWith(withHost(answers, { name: v, address, roles: ['worker'] }), atPath('hosts', n - 1, 'name'))),
      },
      ctx,
    );
    const roles = await checkbox<Role>(
      {
        message: `Roles of ${name}`,
        choices: ROLES.map((r) => ({ value: r, checked: defaultRoles(n).includes(r) })),
        validate: (v) => v.length > 0 || 'choose at least one role',
      },
      ctx,
    );
    answers.hosts.push({ name, address, roles: [...roles] });
  }
  answers.sshUser = await input(
    { message: 'SSH user (root, or a user with sudo)', default: answers.sshUser, validate: (v) => firstProblem(problemsWith({ ...answers, sshUser: v }, atPath('ssh', 'user'))) },
    ctx,
  );
  answers.keyFile = await input({ message: 'SSH private key file', default: answers.keyFile, validate: (v) => firstProblem(problemsWith({ ...answers, keyFile: v }, atPath('ssh', 'keyFile'))) }, ctx);
  answers.properties.KUBE_VERSION = await select({ message: 'Kubernetes version', choices: versions.map((v) => ({ value: v })), default: KNOWN_KEYS.KUBE_VERSION.default }, ctx);
  for (const key of ASKED_KEYS.filter((k) => k !== 'KUBE_VERSION')) {
    const chosen = await input(
      {
        message: `${key}: ${KNOWN_KEYS[key].summary}`,
        default: KNOWN_KEYS[key].default,
        // Every host and earlier answer is known by now: any problem left is this answer's.
        validate: (v) => firstProblem(loadProblems({ ...answers, properties: withDerived({ ...answers.properties, [key]: v }) })),
      },
      ctx,
    );
    answers.properties = withDerived({ ...answers.properties, [key]: chosen });
  }
  return answers;
}

/** Asks before overwriting (a link counts as there, dangling or not); `--yes` and CI never reach here. */
export async function confirmOverwrite(streams: PromptStreams, files: readonly string[]): Promise<boolean> {
  const existing = files.filter((f) => lstatOrUndefined(f) !== undefined);
  if (existing.length === 0) return true;
  const { confirm } = await prompts();
  return confirm({ message: `Overwrite ${existing.join(' and ')}?`, default: false }, { input: streams.input, output: streams.output });
}

export async function confirmApply(streams: PromptStreams): Promise<boolean> {
  const { confirm } = await prompts();
  return confirm({ message: 'Apply this plan?', default: false }, { input: streams.input, output: streams.output });
}

export function inventoryYaml(a: WizardAnswers): string {
  const doc = {
    cluster: a.cluster,
    ssh: { user: a.sshUser, keyFile: a.keyFile },
    hosts: a.hosts.map((h) => ({ name: h.name, address: h.address, roles: h.roles })),
  };
  return `# Written by bootstrap init. Hosts, their roles and how to reach them.\n${stringify(doc)}`;
}

export function propertiesText(a: WizardAnswers): string {
  const lines = Object.entries(a.properties).map(([k, v]) => `${k}=${v}`);
  return `# Written by bootstrap init. Every key is documented in kubestrap's config.example.properties;\n# keys not set here take their defaults.\n${lines.join('\n')}\n`;
}

/**
 * Writes both files; the answers were checked, but the whole is loaded once more as `apply` will.
 * Each file is made fresh and renamed into place, in a real folder: a link there (to ~/.bashrc,
 * dangling or not) is replaced, never written through.
 */
export function writeAnswers(a: WizardAnswers, inventoryFile: string, configFile: string): void {
  const problems = loadProblems(a);
  if (problems.length) throw new InvalidInputError(problems);
  for (const [file, content] of [
    [inventoryFile, inventoryYaml(a)],
    [configFile, propertiesText(a)],
  ] as const) {
    const dir = dirname(resolve(file));
    ensureRealDir(dir, dir, (path, what) => new UsageError(`${path} is ${what}; init writes ${file} only into a real folder`, 'give a path in a real folder'));
    writeFresh(file, content, 0o644);
  }
}

/** The cluster DNS address follows SERVICE_CIDR (its second address, as the default does) unless set. */
function withDerived(properties: Record<string, string>): Record<string, string> {
  const service = properties.SERVICE_CIDR;
  const cidr = service === undefined ? undefined : parseCidr(service);
  if (!cidr || service === KNOWN_KEYS.SERVICE_CIDR.default) return properties;
  return { ...properties, CLUSTER_DNS_SVC_IP: firstHosts(networkAddress(cidr), 2)[1]! };
}

function withHost(a: WizardAnswers, host: WizardHost): WizardAnswers {
  // A candidate host joins as if the cluster already had its control plane, so only its own problems show.
  const complete = a.hosts.length ? a.hosts : [];
  const filler: WizardHost[] = complete.some((h) => h.roles.includes('master')) ? [] : [{ name: 'kubestrap-filler', address: '192.0.2.1', roles: ['etcd', 'master'] }];
  return { ...a, hosts: [...complete, host, ...filler] };
}

/** Problems about one place in the inventory. */
function atPath(...path: Array<string | number>): (e: KubestrapError) => boolean {
  return (e) => e instanceof InventoryError && path.every((p, i) => e.path[i] === p);
}

function defaultRoles(n: number): Role[] {
  return n === 1 ? ['etcd', 'master', 'worker'] : ['worker'];
}

function defaultKeyFile(): string {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => join(homedir(), '.ssh', k)).find(existsSync) ?? join(homedir(), '.ssh', 'id_ed25519');
}

function firstProblem(problems: KubestrapError[]): true | string {
  const [first] = problems;
  if (!first) return true;
  return first.hint ? `${first.message} (${first.hint})` : first.message;
}

/** Loads the candidate files exactly as `apply` would and returns what it refuses. */
function loadProblems(a: WizardAnswers): KubestrapError[] {
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-init-'));
  try {
    const inventoryFile = join(dir, 'inventory.yaml');
    const configFile = join(dir, 'config.properties');
    writeFileSync(inventoryFile, inventoryYaml({ ...a, hosts: a.hosts.length ? a.hosts : [{ name: 'kubestrap-filler', address: '192.0.2.1', roles: ['etcd', 'master'] }] }));
    writeFileSync(configFile, propertiesText(a));
    loadClusterSpec({ inventoryFile, configFile });
    return [];
  } catch (err) {
    if (err instanceof InvalidInputError) return [...err.problems];
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
