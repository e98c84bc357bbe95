import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InventoryError, SshConfigError, type KubestrapError } from '../errors.js';
import type { SshAuth, SshEndpoint, SshTarget } from '../ssh/target.js';
import type { Inventory, InventoryHost, JumpHost } from './inventory-schema.js';
import type { JumpHop, SshConfig, SshHostConfig } from './ssh-config.js';

/**
 * How each inventory host is reached, field by field: what the inventory says (the host's own `ssh`,
 * then the inventory-wide `ssh`), else what ssh_config says for the host (looked up by its address
 * when the inventory gives one, else by its name: an SSH alias), else kubestrap's defaults (root,
 * port 22, the agent and ~/.ssh/id_*). Jump hosts the same way: an inventory `jump` wins over
 * ProxyJump, and either names a host that ssh_config is asked about in turn.
 */

type Path = ReadonlyArray<string | number>;
type AuthSettings = Pick<JumpHost, 'keyFile' | 'passphraseEnv' | 'passwordEnv' | 'agent'>;

/** A jump host with its address found and its ssh_config looked up. */
export interface ResolvedJump {
  /** As the inventory or ProxyJump names it: shown in messages. */
  name: string;
  address: string;
  port?: number;
  user?: string;
  /** Auth fields of an inventory `jump` (none for a ProxyJump hop). */
  settings: AuthSettings;
  config: SshHostConfig;
}

/** An inventory host whose SSH address is known (the inventory's, or ssh_config's HostName). */
export type ResolvedHost = InventoryHost & { address: string; sshConfig: SshHostConfig; jump?: ResolvedJump };
export type ResolvedInventory = Omit<Inventory, 'hosts'> & { hosts: ResolvedHost[] };

export interface SshResolution {
  inventory?: ResolvedInventory;
  problems: KubestrapError[];
}

/** Fills in each host's address and jump host from ssh_config; a host left without an address is a problem that says where to add one. */
export function resolveSshHosts(inventory: Inventory, sshConfig: SshConfig, error: (path: Path, message: string, hint?: string) => InventoryError): SshResolution {
  const problems: KubestrapError[] = [];
  const hosts: ResolvedHost[] = [];
  inventory.hosts.forEach((host, i) => {
    try {
      const resolved = resolveHost(inventory, host, i, sshConfig, error);
      if (resolved instanceof InventoryError) problems.push(resolved);
      else hosts.push(resolved);
    } catch (err) {
      if (!(err instanceof SshConfigError)) throw err;
      problems.push(err);
    }
  });
  return problems.length ? { problems } : { inventory: { ...inventory, hosts }, problems };
}

function resolveHost(inventory: Inventory, host: InventoryHost, i: number, sshConfig: SshConfig, error: (path: Path, message: string, hint?: string) => InventoryError): ResolvedHost | InventoryError {
  const config = sshConfig.lookup(host.address ?? host.name, { user: host.ssh?.user ?? inventory.ssh?.user, port: host.ssh?.port ?? inventory.ssh?.port });
  const address = host.address ?? config.hostName;
  if (address === undefined) return noAddress(host.name, i, sshConfig, error);
  const inventoryJump = host.ssh?.jump ?? inventory.ssh?.jump;
  const jumpPath = host.ssh?.jump ? ['hosts', i, 'ssh', 'jump'] : ['ssh', 'jump'];
  let jump: ResolvedJump | InventoryError | undefined;
  if (inventoryJump) {
    jump = resolveJump(inventoryJump.address, inventoryJump, {}, sshConfig, jumpPath, error);
  } else if (config.proxyJump.length > 1) {
    jump = error(
      ['hosts', i],
      `ssh_config gives "${host.name}" a chain of ${config.proxyJump.length} jump hosts (ProxyJump ${config.proxyJump.map((h) => h.host).join(',')}); kubestrap goes through one`,
      'reach the host through one jump host: set ssh.jump in the inventory, or ProxyJump with one host',
    );
  } else if (config.proxyJump[0]) {
    jump = resolveJump(config.proxyJump[0].host, {}, config.proxyJump[0], sshConfig, ['hosts', i], error);
  } else if (config.proxyCommand) {
    jump = error(['hosts', i], `ssh_config reaches "${host.name}" with ProxyCommand, which kubestrap does not run`, 'use ProxyJump in ssh_config, or ssh.jump in the inventory');
  }
  if (jump instanceof InventoryError) return jump;
  return { ...host, address, sshConfig: config, ...(jump ? { jump } : {}) };
}

function resolveJump(
  name: string,
  settings: JumpHost | Record<string, never>,
  hop: Partial<JumpHop>,
  sshConfig: SshConfig,
  path: Path,
  error: (path: Path, message: string, hint?: string) => InventoryError,
): ResolvedJump | InventoryError {
  const config = sshConfig.lookup(name, { user: settings.user ?? hop.user, port: settings.port ?? hop.port });
  if (config.proxyJump.length > 0) {
    return error(
      path,
      `jump host "${name}" is itself reached through ${config.proxyJump.map((h) => h.host).join(',')} (ProxyJump in ${sshConfig.description}); kubestrap goes through one jump host`,
      'give the jump host a direct route, or ProxyJump none in its Host block',
    );
  }
  const { keyFile, passphraseEnv, passwordEnv, agent } = settings;
  const port = settings.port ?? hop.port ?? config.port;
  const user = settings.user ?? hop.user ?? config.user;
  return {
    name,
    address: config.hostName ?? name,
    ...(port !== undefined ? { port } : {}),
    ...(user !== undefined ? { user } : {}),
    settings: { ...(keyFile ? { keyFile } : {}), ...(passphraseEnv ? { passphraseEnv } : {}), ...(passwordEnv ? { passwordEnv } : {}), ...(agent !== undefined ? { agent } : {}) },
    config,
  };
}

function noAddress(name: string, i: number, sshConfig: SshConfig, error: (path: Path, message: string, hint?: string) => InventoryError): InventoryError {
  if (sshConfig.source === 'none') {
    return error(
      ['hosts', i],
      `host "${name}" has no address, and --no-ssh-config leaves ssh_config unread`,
      `add address: to this host, or drop --no-ssh-config to take the HostName of "Host ${name}" from ~/.ssh/config (or the file given with -F)`,
    );
  }
  const read = sshConfig.files.length ? `${sshConfig.files.join(', ')} ${sshConfig.files.length === 1 ? 'has' : 'have'} no HostName for "${name}"` : `${sshConfig.description} does not exist`;
  return error(
    ['hosts', i],
    `host "${name}" has no address: the inventory gives none and ${read}`,
    `add address: to this host, or a "Host ${name}" block with a HostName line to ${sshConfig.source === 'user' ? '~/.ssh/config (or a file given with -F)' : sshConfig.description.replace(/^-F /, '')}`,
  );
}

/** The SSH target of a resolved host, `keyFile`s resolved with `resolvePath` (relative to the inventory). */
export function sshTarget(inventory: ResolvedInventory, host: ResolvedHost, resolvePath: (p: string) => string): SshTarget {
  const merged = { ...(inventory.ssh ?? {}), ...(host.ssh ?? {}) };
  const user = merged.user ?? host.sshConfig.user ?? 'root';
  return {
    name: host.name,
    address: host.address,
    port: merged.port ?? host.sshConfig.port ?? 22,
    user,
    auth: sshAuth(merged, host.sshConfig, resolvePath),
    ...(host.jump ? { jump: jumpEndpoint(host.jump, user, resolvePath) } : {}),
    ...(merged.sudoPasswordEnv ? { sudoPasswordEnv: merged.sudoPasswordEnv } : {}),
  };
}

function jumpEndpoint(jump: ResolvedJump, defaultUser: string, resolvePath: (p: string) => string): SshEndpoint {
  return {
    name: `jump ${jump.name}`,
    address: jump.address,
    port: jump.port ?? 22,
    user: jump.user ?? defaultUser,
    auth: sshAuth(jump.settings, jump.config, resolvePath),
  };
}

/**
 * The inventory's way to log in when it names one (a key file, a password, the agent on or off);
 * else ssh_config's IdentityFiles, with the agent unless IdentitiesOnly; else as OpenSSH does without
 * either: the agent if one runs, and the first default key that exists (none when ssh_config names
 * IdentityFiles, though none of them exists, as OpenSSH adds its defaults only when none is named).
 */
function sshAuth(s: AuthSettings, config: SshHostConfig, resolvePath: (p: string) => string): SshAuth {
  const auth: SshAuth = {};
  if (s.keyFile) auth.keyFile = resolvePath(s.keyFile);
  if (s.passphraseEnv) auth.passphraseEnv = s.passphraseEnv;
  if (s.passwordEnv) auth.passwordEnv = s.passwordEnv;
  if (s.agent !== undefined) auth.agent = s.agent;
  if (auth.keyFile || auth.passwordEnv || auth.agent !== undefined) return auth;
  if (process.env.SSH_AUTH_SOCK && config.identitiesOnly !== true) auth.agent = true;
  const [first, ...more] = config.identityFilesNamed ? config.identityFiles : defaultKeys().slice(0, 1);
  if (first) auth.keyFile = first;
  if (more.length) auth.moreKeyFiles = more;
  return auth;
}

function defaultKeys(): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => join(homedir(), '.ssh', k)).filter(existsSync);
}
