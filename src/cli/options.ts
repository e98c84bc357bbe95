import { Option, type Command } from 'commander';
import type { ClusterSources, ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { ClusterSession } from '../engine/session.js';
import { SshPool } from '../ssh/pool.js';
import { UsageError } from './usage-error.js';

/** The inputs of every command that reads the inventory (withInputOptions). */
export interface InputOptions {
  inventory: string;
  config: string;
  /** -F FILE, or false for --no-ssh-config; unset: ~/.ssh/config. */
  sshConfig?: string | false;
}

/** Options of every command that reaches the hosts; one definition, so they read the same everywhere. */
export interface ConnectionOptions extends InputOptions {
  concurrency: number;
  acceptNewHostKeys: boolean;
  connectTimeout: number;
}

export type OutputMode = 'auto' | 'tty' | 'plain' | 'json';

const DEFAULT_CONCURRENCY = 20;

export function withInputOptions(command: Command): Command {
  return withSshConfigOptions(command.requiredOption('-i, --inventory <file>', 'inventory YAML').option('-c, --config <file>', 'key=value properties', 'config.properties'));
}

/** -F and --no-ssh-config, for a command whose inventory is optional (render). */
export function withSshConfigOptions(command: Command): Command {
  return command
    .option('-F, --ssh-config <file>', 'read this ssh_config instead of ~/.ssh/config (for hosts the inventory does not say how to reach)')
    .option('--no-ssh-config', 'read no ssh_config: the inventory alone says how to reach each host');
}

/** What loadClusterSpec reads, as the input options say: ~/.ssh/config unless -F or --no-ssh-config, as OpenSSH. */
export function clusterSources(opts: InputOptions): ClusterSources {
  const sshConfig = opts.sshConfig === false ? { kind: 'none' as const } : opts.sshConfig ? { kind: 'file' as const, path: opts.sshConfig } : { kind: 'user' as const };
  return { inventoryFile: opts.inventory, configFile: opts.config, sshConfig };
}

export function withConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--concurrency <n>', 'hosts worked on at once').default(DEFAULT_CONCURRENCY).argParser(positiveInt))
    .option('--accept-new-host-keys', 'record host keys seen for the first time instead of refusing them', false)
    .addOption(new Option('--connect-timeout <seconds>', 'SSH connect timeout').default(10).argParser(positiveInt));
}

export function outputOption(description: string): Option {
  return new Option('--output <mode>', description).choices(['auto', 'tty', 'plain', 'json']).default('auto');
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`"${value}" is not a positive whole number`);
  return n;
}

/** The connections of one command: known_hosts checked as the options say, each step to the debug log if there is one. */
/**
 * The cluster session of a command: the pool's connections to the spec's hosts, closed by `close`.
 * Every command that talks to hosts runs its procedure on one.
 */
/** A session on the cluster's hosts (by default the ones it should have; converge adds the hosts leaving it). */
export function openSession(
  spec: ClusterSpec,
  opts: ConnectionOptions,
  log?: (event: Record<string, unknown>) => void,
  hosts: readonly HostSpec[] = spec.hosts,
): { session: ClusterSession<HostSpec>; close(): Promise<void> } {
  const pool = openPool(spec, opts, log);
  const session = new ClusterSession(hosts, { connect: (target) => pool.connect(target), concurrency: opts.concurrency, ...(log ? { log } : {}) });
  return { session, close: () => pool.closeAll() };
}

export function openPool(spec: ClusterSpec, opts: ConnectionOptions, log?: (event: Record<string, unknown>) => void): SshPool {
  return new SshPool({
    knownHostsFile: spec.knownHostsFile,
    acceptNewHostKeys: opts.acceptNewHostKeys,
    connectTimeoutMs: opts.connectTimeout * 1000,
    ...(log ? { log: (e) => log({ event: 'ssh', ...e }) } : {}),
  });
}
