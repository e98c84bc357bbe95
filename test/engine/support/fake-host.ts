import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SshError } from '../../../src/errors.js';
import type { ExecResult } from '../../../src/ssh/exec.js';
import type { PutFileOptions } from '../../../src/ssh/put-file.js';
import type { HostStats, RemoteHost } from '../../../src/ssh/remote-host.js';
import type { StreamSource } from '../../../src/ssh/stream-source.js';
import { shRunToOutput, shRunWithInput } from '../support.js';
import { readUnit, writeUnit, type UnitModel, type UnitState } from './fake-tools.js';

/**
 * What the engine sends a host, told apart by what each script is made of: the fact command and
 * the probe are sectioned scripts with their own first and last keys, an apply (changes, restarts,
 * cluster actions) is a batch of steps, a `read` is any other look (plan's current file contents),
 * a `put` an SFTP file write.
 */
export type CommandKind = 'facts' | 'probe' | 'read' | 'apply' | 'put';

/** A file as a test puts it on a host (mode 0644 unless given). */
export type FileModel = string | { content: string; mode: number };

/** A host as a test describes it. */
export interface HostModel {
  /** It does not answer: connecting fails as SSH's does. */
  unreachable?: boolean;
  /** Files by absolute path (below /etc, /var or /opt). */
  files?: Record<string, FileModel>;
  units?: Record<string, UnitModel>;
  /** The connection drops when the host is sent a command of this kind. */
  dropsOn?: CommandKind;
}

/** Owner and group of what this machine's user creates: the owner a fake host's files can have. */
export const LOCAL_OWNER: { owner: string; group: string } = {
  owner: userInfo().username,
  group: execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim(),
};

/**
 * The host folders scripts name that live in the sandbox: what tests' resources use, and what the
 * engine itself reads and writes (/etc/os-release, /proc's facts, /var/lib/kubestrap).
 */
const HOST_FOLDERS = /(?<![\w./-])\/(?=(?:etc|var|opt|proc)\/)/g;

const OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';

export interface FakeHostOptions {
  name: string;
  address: string;
  /** This host's own folder: its sandboxed filesystem and its units. */
  dir: string;
  model: HostModel;
  /** PATH with the fake tools first (see fake-tools.ts). */
  env: NodeJS.ProcessEnv;
  /** The event log the cluster's hosts share. */
  events: string;
}

/**
 * A host for runner tests: the engine's real scripts run with `sh` on this machine, against a
 * sandbox. Absolute paths below /etc, /var, /opt and /proc in what it is sent point into the
 * sandbox, and the sandbox's folder is taken out of what it answers, so the engine reads and
 * diffs exactly what it would read from a real host; systemd, `ip` and readiness are the fake
 * tools. Every command is recorded by kind, so a test can count the round trips the engine made.
 */
export class FakeHost implements RemoteHost {
  readonly name: string;
  readonly stats: HostStats = { handshakes: 1, execs: 0, sftpOps: 0, streamedBytes: 0 };
  /** What the host was sent, in order. */
  readonly commands: CommandKind[] = [];
  private readonly root: string;
  private readonly units: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly opts: FakeHostOptions) {
    this.name = opts.name;
    this.root = join(opts.dir, 'root');
    this.units = join(opts.dir, 'units');
    this.env = { ...opts.env, KS_FAKE_HOST: opts.name, KS_FAKE_ADDRESS: opts.address, KS_FAKE_UNITS: this.units, KS_FAKE_EVENTS: opts.events };
    this.seed();
  }

  /** What `connect` hands the engine: this host, or the error of a host that does not answer. */
  async connect(): Promise<RemoteHost> {
    if (this.opts.model.unreachable) throw new SshError(this.name, 'connect', `connect ECONNREFUSED ${this.opts.address}:22`);
    return this;
  }

  async run(script: string): Promise<ExecResult> {
    return this.exec(script, async () => undefined);
  }

  async runWithInput(script: string, input: () => Readable | StreamSource): Promise<ExecResult> {
    return this.exec(script, input());
  }

  async runToOutput(script: string, out: Writable): Promise<ExecResult> {
    this.record(kindOfScript(script), script.split('\n')[0]!);
    this.stats.execs++;
    const result = await shRunToOutput(script.replace(HOST_FOLDERS, `${this.root}/`), out, this.env);
    return { ...result, stderr: this.unsandboxed(result.stderr) };
  }

  async putFile(path: string, content: Buffer | string, opts: PutFileOptions): Promise<{ written: boolean }> {
    this.record('put', path);
    this.stats.sftpOps++;
    // The fake installs as this machine's user; another owner would be a chown it cannot do.
    if ((opts.owner ?? LOCAL_OWNER.owner) !== LOCAL_OWNER.owner || (opts.group ?? LOCAL_OWNER.group) !== LOCAL_OWNER.group) {
      throw new Error(`fake host ${this.name}: cannot install ${path} for ${opts.owner}:${opts.group}; use LOCAL_OWNER`);
    }
    this.write(path, content, opts.mode);
    return { written: true };
  }

  async close(): Promise<void> {}

  /** A file's content on the host, or undefined when there is none. */
  read(path: string): string | undefined {
    const local = this.local(path);
    return existsSync(local) ? readFileSync(local, 'utf8') : undefined;
  }

  /** Whether anything (a file or a folder) is at `path` on the host. */
  exists(path: string): boolean {
    return existsSync(this.local(path));
  }

  /** Puts a file on the host between runs, as something other than kubestrap would (an operator, a service). */
  place(path: string, content: string): void {
    this.write(path, content, 0o644);
  }

  unit(name: string): UnitState {
    return readUnit(this.units, name);
  }

  /** Changes a unit between runs (an operator fixed it, or it broke). */
  setUnit(name: string, model: UnitModel): void {
    writeUnit(this.units, name, model);
  }

  count(kind: CommandKind): number {
    return this.commands.filter((c) => c === kind).length;
  }

  private async exec(script: string, input: Readable | StreamSource): Promise<ExecResult> {
    this.record(kindOfScript(script), script.split('\n')[0]!);
    this.stats.execs++;
    const result = await shRunWithInput(script.replace(HOST_FOLDERS, `${this.root}/`), input, this.env);
    return { ...result, stdout: this.unsandboxed(result.stdout), stderr: this.unsandboxed(result.stderr) };
  }

  /** Counts the command, and drops the connection there if the model says so. */
  private record(kind: CommandKind, what: string): void {
    this.commands.push(kind);
    if (this.opts.model.dropsOn === kind) throw new SshError(this.name, 'exec', `connection lost (connection closed by the host or the network) while running: ${what}`);
  }

  private unsandboxed(text: string): string {
    return text.replaceAll(this.root, '');
  }

  private local(path: string): string {
    return join(this.root, path);
  }

  private write(path: string, content: Buffer | string, mode: number): void {
    const local = this.local(path);
    mkdirSync(dirname(local), { recursive: true });
    writeFileSync(local, content);
    chmodSync(local, mode);
  }

  /** The model, and what the fact command reads, into the sandbox. */
  private seed(): void {
    const { model } = this.opts;
    this.write('/etc/os-release', OS_RELEASE, 0o644);
    this.write('/proc/sys/kernel/osrelease', '6.1.0-fake-amd64\n', 0o444);
    this.write('/proc/sys/kernel/hostname', `${this.name}\n`, 0o444);
    this.write('/proc/1/comm', 'systemd\n', 0o444);
    for (const [path, file] of Object.entries(model.files ?? {})) {
      this.write(path, typeof file === 'string' ? file : file.content, typeof file === 'string' ? 0o644 : file.mode);
    }
    mkdirSync(this.units, { recursive: true });
    for (const [name, unit] of Object.entries(model.units ?? {})) writeUnit(this.units, name, unit);
  }
}

/** See CommandKind: batches mark their steps, and the probe's last section is the pending restarts. */
function kindOfScript(script: string): CommandKind {
  if (script.includes('@@kubestrap-step')) return 'apply';
  if (script.includes(" 'os-release'\n")) return 'facts';
  if (script.includes(" 'pending-restarts'\n")) return 'probe';
  return 'read';
}
