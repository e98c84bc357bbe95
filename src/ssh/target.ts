/**
 * Who to reach and how. These are plain data so the inventory layer can build them without knowing
 * anything about ssh2. Secrets are never stored here: only the NAMES of the environment variables
 * that hold them, so a target can be logged or printed safely.
 */

export interface SshAuth {
  /** Private key file (OpenSSH, PEM or PPK). */
  keyFile?: string;
  /** Further private keys, tried in order after keyFile (ssh_config may name several with IdentityFile). */
  moreKeyFiles?: string[];
  /** Name of the environment variable holding the key file's passphrase. */
  passphraseEnv?: string;
  /** Name of the environment variable holding the login password. */
  passwordEnv?: string;
  /** Use the running ssh-agent (`SSH_AUTH_SOCK`). */
  agent?: boolean;
}

export interface SshEndpoint {
  /** Inventory name, used in every message and log event. */
  name: string;
  /** Hostname or IP, exactly as written in known_hosts. */
  address: string;
  port: number;
  user: string;
  auth: SshAuth;
}

export interface SshTarget extends SshEndpoint {
  /** Reach this host through another one (like OpenSSH's ProxyJump). */
  jump?: SshEndpoint;
  /** Name of the environment variable holding the sudo password, for non-root users without NOPASSWD. */
  sudoPasswordEnv?: string;
}

/** `user@address:port`, the identity of one SSH connection (used to share jump connections). */
export function endpointKey(e: SshEndpoint): string {
  return `${e.user}@${e.address}:${e.port}`;
}
