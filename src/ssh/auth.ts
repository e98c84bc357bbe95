import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthHandlerMiddleware, AuthenticationType, ParsedKey } from 'ssh2';
import { SshError } from '../errors.js';
import { signingFromKeyObject } from './signing-key.js';
import type { SshAuth, SshEndpoint, SshTarget } from './target.js';

/**
 * Credentials: turn an `SshAuth` (file paths and env var NAMES) into ssh2 auth methods, failing
 * early with a precise message when a key file or variable is missing, instead of letting the
 * server answer a vague "authentication failed" later. Values read from the environment never
 * appear in a message.
 */

/** One way to log in, with the SSH method names a server must allow for it. */
interface Candidate {
  label: string;
  serverMethods: AuthenticationType[];
  method: AnyAuthMethod;
}

export interface ResolvedAuth {
  candidates: Candidate[];
  /** The login password, kept only so callers can scrub it from any text they print. */
  secrets: string[];
}

/** Reads an environment variable that must be set, naming it (never its value) when it is not. */
export function requireEnv(host: string, stage: 'auth' | 'sudo', name: string, what: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new SshError(host, stage, `${what} is expected in environment variable ${name}, which is not set`, `export ${name}=... before running, or change the inventory`);
  }
  return value;
}

/**
 * Every secret a connection to this target may use, read from the environment: login password, key
 * passphrase and sudo password, and the jump host's password and passphrase. Whatever kubestrap shows
 * or logs is redacted of these.
 */
export function targetSecrets(target: SshTarget): string[] {
  const ofAuth = (a: SshAuth) => [a.passwordEnv, a.passphraseEnv];
  const names = [...ofAuth(target.auth), target.sudoPasswordEnv, ...(target.jump ? ofAuth(target.jump.auth) : [])];
  return names.map((n) => (n ? process.env[n] : undefined)).filter((v): v is string => v !== undefined && v !== '');
}

export async function resolveAuth(endpoint: SshEndpoint): Promise<ResolvedAuth> {
  const { auth, user, name } = endpoint;
  const candidates: Candidate[] = [];
  const secrets: string[] = [];
  for (const file of [...(auth.keyFile ? [auth.keyFile] : []), ...(auth.moreKeyFiles ?? [])]) {
    const key = await loadPrivateKey(endpoint, file, auth.passphraseEnv);
    candidates.push({
      label: `publickey (${file})`,
      serverMethods: ['publickey'],
      method: { type: 'publickey', username: user, key },
    });
  }
  if (auth.agent) {
    const sock = process.env.SSH_AUTH_SOCK;
    if (sock) {
      candidates.push({ label: 'agent', serverMethods: ['publickey'], method: { type: 'agent', username: user, agent: sock } });
    } else if (!auth.keyFile && !auth.passwordEnv) {
      throw new SshError(
        name,
        'auth',
        'ssh-agent authentication was asked for, but SSH_AUTH_SOCK is not set',
        'start an agent and add the key (eval $(ssh-agent); ssh-add KEY), or configure a key file',
      );
    }
  }
  if (auth.passwordEnv) {
    const password = requireEnv(name, 'auth', auth.passwordEnv, `the SSH password for ${user}`);
    secrets.push(password);
    candidates.push({ label: 'password', serverMethods: ['password'], method: { type: 'password', username: user, password } });
    // Servers with PasswordAuthentication off often still take the password through PAM's
    // keyboard-interactive prompt.
    candidates.push({
      label: 'keyboard-interactive',
      serverMethods: ['keyboard-interactive'],
      method: {
        type: 'keyboard-interactive',
        username: user,
        prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map((p) => (p.echo ? '' : password))),
      },
    });
  }
  if (candidates.length === 0) {
    throw new SshError(name, 'auth', `no authentication method is configured for ${user}@${endpoint.address}`, 'set a key file, agent: true, or a password environment variable for this host');
  }
  return { candidates, secrets };
}

/**
 * Keys read and parsed, by file and passphrase: a run logs into every host with the same key, and
 * reading and parsing it once per host cost 0.5 s of a 300-host run (an encrypted key's KDF far
 * more). Only keys that loaded are kept, so a failure is found again, and said, for each host.
 */
const loadedKeys = new Map<string, ParsedKey>();

async function loadPrivateKey(endpoint: SshEndpoint, file: string, passphraseEnv: string | undefined): Promise<ParsedKey> {
  const passphrase = passphraseEnv ? requireEnv(endpoint.name, 'auth', passphraseEnv, `the passphrase of ${file}`) : undefined;
  const cacheKey = JSON.stringify([file, passphrase ?? null]);
  const loaded = loadedKeys.get(cacheKey) ?? readPrivateKey(endpoint, file, passphrase, passphraseEnv);
  loadedKeys.set(cacheKey, loaded);
  return loaded;
}

function readPrivateKey(endpoint: SshEndpoint, file: string, passphrase: string | undefined, passphraseEnv: string | undefined): ParsedKey {
  let data: Buffer;
  try {
    // Sync (a small file, read once per run): the connection reaches its TCP connect without waiting
    // for the event loop, so a handshake started early is under way before the run's CPU-bound checks.
    data = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${code})`;
    throw new SshError(endpoint.name, 'auth', `private key ${file} ${why}`, 'check the key path in the inventory and its permissions');
  }
  const parsed = ssh2.utils.parseKey(data, passphrase);
  if (parsed instanceof Error) throw keyError(endpoint, file, parsed.message, passphraseEnv);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key.getPrivatePEM() === null) {
    throw new SshError(endpoint.name, 'auth', `${file} holds no private key (is it the .pub file?)`, 'point keyFile at the private half of the key pair');
  }
  return signingFromKeyObject(key);
}

function keyError(endpoint: SshEndpoint, file: string, reason: string, passphraseEnv: string | undefined): SshError {
  if (/no passphrase given/i.test(reason)) {
    return new SshError(endpoint.name, 'auth', `private key ${file} is encrypted and no passphrase was given`, 'set passphraseEnv to the name of an environment variable holding the passphrase');
  }
  if (/bad passphrase|decrypt/i.test(reason)) {
    return new SshError(endpoint.name, 'auth', `wrong passphrase for private key ${file}`, `check the value of ${passphraseEnv ?? 'the passphrase variable'}`);
  }
  return new SshError(endpoint.name, 'auth', `private key ${file} cannot be parsed: ${reason}`, 'use an OpenSSH, PEM or PPK private key');
}

/**
 * Tries the candidates in order, skipping those the server says it does not accept, and records
 * what was tried so an auth failure can say so.
 */
export function makeAuthHandler(candidates: readonly Candidate[], tried: string[]): AuthHandlerMiddleware {
  let next = 0;
  return (methodsLeft, _partialSuccess, callback) => {
    while (next < candidates.length) {
      const c = candidates[next++];
      // methodsLeft is null before the first answer: anything may be accepted then.
      if (c && (!methodsLeft || c.serverMethods.some((m) => methodsLeft.includes(m)))) {
        tried.push(c.label);
        callback(c.method);
        return;
      }
    }
    // ssh2 takes `false` for "nothing left to try"; its typings only list method names.
    callback(false as unknown as AuthenticationType);
  };
}
