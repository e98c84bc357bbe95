/**
 * Typed errors. Every error names where the problem is and carries a `hint`: what would be valid, or
 * what to do next. The CLI prints `format()` and exits non-zero; nothing secret goes into a message.
 */
export abstract class KubestrapError extends Error {
  abstract readonly kind: string;

  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** Where the problem is, e.g. `config.properties:7 SERVICE_CIDR` or `node1 (10.0.0.11)`. */
  abstract where(): string;

  /** File and line, when the problem sits in a file: used to report problems in reading order. */
  position(): { file?: string; line?: number } {
    return {};
  }

  format(): string {
    const where = this.where();
    const head = where ? `${where}: ${this.message}` : this.message;
    return this.hint ? `${head}\n  fix: ${this.hint}` : head;
  }
}

/** A problem at a place in a file: `file:line`, then what in that line (a key, a YAML path). */
abstract class FileProblem extends KubestrapError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    /** What at that line, e.g. a key or a YAML path; empty when the line says it all. */
    private readonly subject: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }

  override position(): { file?: string; line?: number } {
    return { file: this.file, line: this.line };
  }

  where(): string {
    const at = this.line === undefined ? this.file : `${this.file}:${this.line}`;
    return this.subject ? `${at} ${this.subject}` : at;
  }
}

/** A problem at a line of a file, about a key (or the line as a whole). */
abstract class KeyedFileProblem extends FileProblem {
  constructor(
    file: string,
    line: number | undefined,
    readonly key: string | undefined,
    message: string,
    hint?: string,
  ) {
    super(file, line, key ?? '', message, hint);
  }
}

/** A problem in a key=value properties file. */
export class ConfigError extends KeyedFileProblem {
  readonly kind = 'config';
}

/** A problem in an inventory YAML file, located by its YAML path (and line when known). */
export class InventoryError extends FileProblem {
  readonly kind = 'inventory';

  constructor(
    file: string,
    readonly path: ReadonlyArray<string | number>,
    line: number | undefined,
    message: string,
    hint?: string,
  ) {
    super(file, line, formatYamlPath(path), message, hint);
  }
}

/** A problem in a template: an undefined variable, a syntax error, a flag the version rejects. */
export class TemplateError extends KeyedFileProblem {
  readonly kind = 'template';
}

/** Several input problems found in one pass: all are reported, nothing is touched. */
export class InvalidInputError extends KubestrapError {
  readonly kind = 'invalid-input';

  readonly problems: ReadonlyArray<KubestrapError>;

  constructor(
    problems: ReadonlyArray<KubestrapError>,
    /** Warnings found on the way; shown with the problems, since the run stops here. */
    readonly warnings: ReadonlyArray<Warning> = [],
  ) {
    super(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the input; nothing was changed`);
    this.problems = sortByPosition(problems);
  }

  where(): string {
    return '';
  }

  override format(): string {
    return [...this.problems.map((p) => p.format()), ...this.warnings.map(formatWarning), this.message].join('\n');
  }
}

export type SshStage = 'connect' | 'auth' | 'hostkey' | 'exec' | 'sftp' | 'sudo';

/** Reaching or talking to a host over SSH failed. */
export class SshError extends KubestrapError {
  readonly kind = 'ssh';

  constructor(
    readonly host: string,
    readonly stage: SshStage,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return `${this.host} [${this.stage}]`;
  }
}

/** A change on a host failed: which resource, which command, how it ended. */
export class HostError extends KubestrapError {
  readonly kind = 'host';

  constructor(
    readonly host: string,
    message: string,
    readonly details: {
      resource?: string;
      command?: string;
      exitCode?: number;
      stderrTail?: string;
      journalTail?: string;
    } = {},
    hint?: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return this.details.resource ? `${this.host} ${this.details.resource}` : this.host;
  }

  override format(): string {
    const lines = [super.format()];
    const { command, exitCode, stderrTail, journalTail } = this.details;
    if (command) lines.push(`  command: ${command}`);
    if (exitCode !== undefined) lines.push(`  exit code: ${exitCode}`);
    if (stderrTail) lines.push(indentBlock('stderr', stderrTail));
    if (journalTail) lines.push(indentBlock('journal', journalTail));
    return lines.join('\n');
  }
}

/** A problem about one thing outside any file's lines (a URL, a bundle's file, the lock, a state path): `where` names it. */
abstract class SubjectProblem extends KubestrapError {
  constructor(
    /** What the problem is about: a URL, a cached or bundled file, the lock file, a path of the state folder. */
    readonly subject: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return this.subject;
  }
}

/** A download failed or did not match its checksum: names the URL and the property behind it. */
export class ArtifactError extends SubjectProblem {
  readonly kind = 'artifact';
}

/** An offline bundle or artifact manifest that lacks something, or holds a file that is not what it says. */
export class BundleError extends SubjectProblem {
  readonly kind = 'bundle';
}

/** Another run holds the cluster's lock (the subject is the lock file). */
export class LockError extends SubjectProblem {
  readonly kind = 'lock';
}

/** An ssh_config file (the user's, one given with -F, or one it includes) that cannot be read or is not supported (the subject is the file). */
export class SshConfigError extends SubjectProblem {
  readonly kind = 'ssh-config';
}

/** The local state folder (known_hosts, lock, logs, the PKI) cannot be trusted or used as it is. */
export class StateError extends SubjectProblem {
  readonly kind = 'state';
}

/** A kubeconfig kubestrap was asked to write or merge into that it cannot use as it is (the subject is the file). */
export class KubeconfigError extends SubjectProblem {
  readonly kind = 'output';
}

/** A manifest kubestrap applies through the API cannot be (not YAML, an object it cannot place): `where` names the manifest or object. */
export class ManifestError extends SubjectProblem {
  readonly kind = 'manifest';
}

/** An etcd snapshot or its metadata that kubestrap will not use (the subject is the file): refused before anything on a host changes. */
export class SnapshotError extends SubjectProblem {
  readonly kind = 'snapshot';
}

/**
 * A version edit that upstream's upgrade rules refuse (src/upstream/upgrade-policy.ts): the rule,
 * the setting to change and the hosts concerned; the hint is the way forward (for a skipped minor,
 * the version to stop at). Raised before any host changes.
 */
export class UpgradeError extends KubestrapError {
  readonly kind = 'upgrade';

  constructor(
    readonly rule: string,
    /** The file and key whose value breaks the rule: `config.properties KUBE_VERSION`. */
    readonly setting: string,
    readonly hosts: readonly string[],
    message: string,
    hint: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return `${this.setting} (upgrade rule ${this.rule}; ${this.hosts.join(', ')})`;
  }
}

/**
 * `etcd restore` stopped part way: which step, on which hosts, and (in the hint) how to put back
 * the data it moved aside.
 */
export class RestoreError extends KubestrapError {
  readonly kind = 'restore';

  constructor(
    readonly step: string,
    message: string,
    hint: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return `etcd restore, step "${this.step}"`;
  }
}

/** A warning: reported, never fatal. */
export interface Warning {
  where: string;
  message: string;
  hint?: string;
}

export function formatWarning(w: Warning): string {
  const head = w.where ? `warning: ${w.where}: ${w.message}` : `warning: ${w.message}`;
  return w.hint ? `${head}\n  hint: ${w.hint}` : head;
}

/** Problems of one file in line order; files keep the order in which they were first reported. */
function sortByPosition(problems: ReadonlyArray<KubestrapError>): KubestrapError[] {
  const fileOrder = new Map<string, number>();
  for (const p of problems) {
    const file = p.position().file ?? '';
    if (!fileOrder.has(file)) fileOrder.set(file, fileOrder.size);
  }
  return problems
    .map((p, index) => ({ p, index, file: fileOrder.get(p.position().file ?? '')!, line: p.position().line ?? 0 }))
    .sort((a, b) => a.file - b.file || a.line - b.line || a.index - b.index)
    .map((e) => e.p);
}

export function formatYamlPath(path: ReadonlyArray<string | number>): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

function indentBlock(label: string, text: string): string {
  const body = text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  return `  ${label}:\n${body}`;
}

/**
 * A request kubestrap made itself to a cluster API (the API server, etcd) through a host's SSH
 * connection failed: which host carried it, which API and request, and what came back.
 */
export class ClusterApiError extends KubestrapError {
  readonly kind = 'cluster-api';

  constructor(
    readonly host: string,
    /** `API server 127.0.0.1:6443 GET /api/v1/nodes`, `etcd 127.0.0.1:2379 Range kubestrap/etcd-access`. */
    readonly request: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }

  where(): string {
    return `${this.host} ${this.request}`;
  }
}
