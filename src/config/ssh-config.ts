import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import SSHConfig, { type Line } from 'ssh-config';
import { SshConfigError, type Warning } from '../errors.js';
import { hostPatternsMatch } from '../ssh/host-patterns.js';

/**
 * The user's ssh_config, read as OpenSSH reads it for one destination: in file order, the first value
 * obtained for an option wins (IdentityFile adds up), taken from the lines before any `Host` and from
 * every `Host` block whose patterns match the name as written (the alias, before HostName), with
 * `Include`d files read in place. The ssh-config library parses the text; the walk is ours, because
 * the library keeps `Include` as a plain line and evaluates `Match` criteria that run commands.
 *
 * - `Include`: globs, `~`, paths relative to ~/.ssh (as OpenSSH does for a user file, -F ones too),
 *   a pattern that matches nothing is skipped as OpenSSH skips it; inside a `Host` block, what the
 *   files say applies only when that block matches (their own `Host` lines can only narrow it).
 * - `Match` blocks are skipped, with a warning: their criteria (exec, canonical, final) need commands
 *   run or a second pass; kubestrap does neither.
 * - Only what kubestrap uses is read: HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump,
 *   and ProxyCommand (to refuse it). Host keys are never taken from it: kubestrap keeps its own
 *   known_hosts per cluster, so UserKnownHostsFile and StrictHostKeyChecking are not read.
 *
 * The system-wide /etc/ssh/ssh_config is not read: what it holds (SendEnv, GSSAPI) does not change
 * how kubestrap connects, and a cluster's hosts should not depend on the machine's defaults.
 */

/** Which ssh_config to read: the user's (~/.ssh/config, if it exists), the one given with -F, or none. */
export type SshConfigSource = { kind: 'user' } | { kind: 'file'; path: string } | { kind: 'none' };

export interface JumpHop {
  /** As written in ProxyJump: an alias or an address, looked up in ssh_config in turn. */
  host: string;
  user?: string;
  port?: number;
}

/** What ssh_config says about one destination; a field is absent when nothing sets it. */
export interface SshHostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  /** IdentityFile values, `~` and tokens expanded, in order; files that do not exist are left out, as OpenSSH skips them. */
  identityFiles: string[];
  /** Set when IdentityFile lines apply, even `none` or files that do not exist: OpenSSH then tries no default key. */
  identityFilesNamed?: true;
  identitiesOnly?: boolean;
  /** ProxyJump's hops, first to last; empty when unset or `none`. */
  proxyJump: JumpHop[];
  proxyCommand?: string;
}

const MAX_INCLUDE_DEPTH = 16; // OpenSSH's READCONF_MAX_DEPTH
const READ = new Set(['hostname', 'user', 'port', 'identityfile', 'identitiesonly', 'proxyjump', 'proxycommand']);

interface Obtained {
  value: string;
  file: string;
  /** The keyword as written in lower case: ProxyJump and ProxyCommand share one slot. */
  keyword: string;
}

/** What the inventory says about a login, which wins over ssh_config (as `ssh -l USER -p PORT` does) and fills %r and %p. */
export interface GivenLogin {
  user?: string;
  port?: number;
}

/** kubestrap's own defaults, where OpenSSH would take the local user: what %r and %p stand for when nothing sets them. */
const DEFAULT_LOGIN = { user: 'root', port: 22 };

export class SshConfig {
  /** Every file read, in the order read: named in messages about a host the config should have described. */
  readonly files: string[] = [];
  readonly warnings: Warning[] = [];
  private readonly parsed = new Map<string, SSHConfig>();

  private constructor(
    readonly source: SshConfigSource['kind'],
    /** How the source is named in messages: `~/.ssh/config`, `-F FILE`, `--no-ssh-config`. */
    readonly description: string,
    private readonly root: string | undefined,
    private readonly home: string,
  ) {
    // One walk that applies nothing: reads every file now, so a file that cannot be read or a Match
    // block is reported before any host is looked up.
    if (root) this.walkFile(root, undefined, false, 0, new Map());
  }

  /** Reads the source; `home` stands for the user's home directory (~, relative includes). */
  static read(source: SshConfigSource, home: string = homedir()): SshConfig {
    if (source.kind === 'none') return new SshConfig('none', '--no-ssh-config', undefined, home);
    if (source.kind === 'file') {
      if (!existsSync(source.path)) throw new SshConfigError(source.path, 'the ssh_config file given with -F does not exist', 'pass an existing file with -F, or leave -F out to read ~/.ssh/config');
      return new SshConfig('file', `-F ${source.path}`, source.path, home);
    }
    const user = join(home, '.ssh', 'config');
    return new SshConfig('user', '~/.ssh/config', existsSync(user) ? user : undefined, home);
  }

  /**
   * What the config says for `alias` (an inventory host's name or address, or a jump host as written);
   * `given` is the user and port the inventory sets for it, which IdentityFile's %r and %p stand for.
   */
  lookup(alias: string, given: GivenLogin = {}): SshHostConfig {
    const obtained = new Map<string, Obtained[]>();
    if (this.root) this.walkFile(this.root, alias, true, 0, obtained);
    return this.interpret(alias, obtained, given);
  }

  private walkFile(file: string, alias: string | undefined, active: boolean, depth: number, obtained: Map<string, Obtained[]>): void {
    for (const line of this.parse(file)) {
      if (line.type !== SSHConfig.DIRECTIVE) continue;
      const param = line.param.toLowerCase();
      if (param === 'host' && 'config' in line) {
        const matches = alias !== undefined && hostPatternsMatch(valuesOf(line), alias);
        this.walkLines(line.config, file, alias, active && matches, depth, obtained);
      } else if (param === 'match' && 'config' in line) {
        this.warnOnce(file, `Match ${valuesOf(line).join(' ')}`);
      } else {
        this.walkLines([line], file, alias, active, depth, obtained);
      }
    }
  }

  /** The lines of one block (or one top-level line): options obtained when active, includes followed. */
  private walkLines(lines: readonly Line[], file: string, alias: string | undefined, active: boolean, depth: number, obtained: Map<string, Obtained[]>): void {
    for (const line of lines) {
      if (line.type !== SSHConfig.DIRECTIVE) continue;
      const param = line.param.toLowerCase();
      if (param === 'include') {
        for (const included of this.includedFiles(file, valuesOf(line), depth)) this.walkFile(included, alias, active, depth + 1, obtained);
      } else if (active && READ.has(param)) {
        // OpenSSH keeps one proxy: the first ProxyJump or ProxyCommand (`none` included) rules out the other.
        const slot = param === 'proxycommand' ? 'proxyjump' : param;
        const list = obtained.get(slot) ?? [];
        if (param === 'identityfile' || list.length === 0) list.push({ value: valuesOf(line).join(' '), file, keyword: param });
        obtained.set(slot, list);
      }
    }
  }

  private includedFiles(from: string, patterns: readonly string[], depth: number): string[] {
    if (depth + 1 > MAX_INCLUDE_DEPTH) {
      throw new SshConfigError(from, `Include nested deeper than ${MAX_INCLUDE_DEPTH} files (does a file include itself?)`, 'remove the Include that leads back to an including file');
    }
    return patterns.flatMap((pattern) => {
      const tilde = pattern === '~' || pattern.startsWith('~/') ? join(this.home, pattern.slice(1)) : pattern;
      return expandGlob(isAbsolute(tilde) ? tilde : join(this.home, '.ssh', tilde));
    });
  }

  private parse(file: string): SSHConfig {
    const known = this.parsed.get(file);
    if (known) return known;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new SshConfigError(file, `cannot read this ssh_config file: ${(err as Error).message}`, 'make it readable, or pass --no-ssh-config to ignore ssh_config');
    }
    const parsed = SSHConfig.parse(text);
    this.parsed.set(file, parsed);
    this.files.push(file);
    return parsed;
  }

  private warnOnce(file: string, block: string): void {
    const where = `${file} ${block}`;
    if (this.warnings.some((w) => w.where === where)) return;
    this.warnings.push({
      where,
      message: 'Match blocks are not supported and are ignored (kubestrap runs no commands from ssh_config and makes no second pass)',
      hint: 'write what kubestrap should use in a Host block, or in the inventory',
    });
  }

  private interpret(alias: string, obtained: Map<string, Obtained[]>, given: GivenLogin): SshHostConfig {
    const first = (key: string) => obtained.get(key)?.[0];
    const portLine = first('port');
    const port = portLine ? parsePort(portLine.value, portLine.file, 'Port') : undefined;
    const user = first('user')?.value;
    const hostNameRaw = first('hostname');
    const hostName = hostNameRaw ? expandTokens(hostNameRaw, { h: alias, n: alias }) : undefined;
    const identitiesOnly = first('identitiesonly');
    const proxy = first('proxyjump');
    const proxyValue = proxy && proxy.value.toLowerCase() !== 'none' ? proxy : undefined;
    const login = { r: given.user ?? user ?? DEFAULT_LOGIN.user, p: String(given.port ?? port ?? DEFAULT_LOGIN.port) };
    const tokens = { h: hostName ?? alias, n: alias, d: this.home, u: localUser(), ...login };
    const config: SshHostConfig = {
      identityFiles: (obtained.get('identityfile') ?? [])
        .filter((o) => o.value.toLowerCase() !== 'none')
        .map((o) => this.identityFile(o, tokens))
        .filter((f) => existsSync(f)),
      proxyJump: proxyValue?.keyword === 'proxyjump' ? proxyValue.value.split(',').map((hop) => parseHop(hop.trim(), proxyValue.file)) : [],
    };
    if (obtained.has('identityfile')) config.identityFilesNamed = true;
    if (hostName) config.hostName = hostName;
    if (user) config.user = user;
    if (port !== undefined) config.port = port;
    if (identitiesOnly) config.identitiesOnly = parseFlag(identitiesOnly, 'IdentitiesOnly');
    if (proxyValue?.keyword === 'proxycommand') config.proxyCommand = proxyValue.value;
    return config;
  }

  private identityFile(o: Obtained, tokens: Record<string, string>): string {
    // OpenSSH expands ${VAR} first, then %-tokens (default_client_percent_dollar_expand).
    const path = expandTokens({ ...o, value: expandEnv(o) }, tokens);
    if (path === '~' || path.startsWith('~/')) return join(this.home, path.slice(1));
    // OpenSSH takes a relative IdentityFile from the directory ssh runs in; kubestrap does the same.
    return path;
  }
}

/** A directive's value as a list of words (Host patterns, Include files, a ProxyCommand's words). */
function valuesOf(line: Line): string[] {
  if (line.type !== SSHConfig.DIRECTIVE) return [];
  return typeof line.value === 'string' ? [line.value] : line.value.map((v) => v.val);
}

/** OpenSSH's %-tokens; one kubestrap does not know is an error rather than a path with a % in it. */
function expandTokens(o: Obtained, tokens: Record<string, string>): string {
  return o.value.replace(/%(.)/g, (whole, token: string) => {
    if (token === '%') return '%';
    const value = tokens[token];
    if (value === undefined)
      throw new SshConfigError(o.file, `${whole} in "${o.value}" is not a token kubestrap expands (it knows %h %n %r %p %d %u %%)`, 'write the value out, or set it in the inventory');
    return value;
  });
}

/** `${NAME}` from the environment, as OpenSSH expands it in IdentityFile; one that is not set is an error, as in ssh. */
function expandEnv(o: Obtained): string {
  return o.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
    const value = process.env[name];
    if (value === undefined) throw new SshConfigError(o.file, `${whole} in "${o.value}" names an environment variable that is not set`, `set ${name}, or write the path out`);
    return value;
  });
}

/** Looked up once: userInfo() reads the password database, once per host of a 1000-host inventory before. */
let localUserName: string | undefined;

function localUser(): string {
  localUserName ??= lookUpLocalUser();
  return localUserName;
}

function lookUpLocalUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? '';
  }
}

/** One ProxyJump hop: `[user@]host[:port]` or `ssh://[user@]host[:port]`; the user runs to the last `@` (domain logins), as in OpenSSH. */
function parseHop(hop: string, file: string): JumpHop {
  const m = /^(?:ssh:\/\/)?(?:(.+)@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(hop);
  if (!m) throw new SshConfigError(file, `ProxyJump "${hop}" is not [user@]host[:port]`, 'fix the ProxyJump line');
  const [, user, host, port] = m;
  return { host: host!.replace(/^\[|\]$/g, ''), ...(user ? { user } : {}), ...(port ? { port: parsePort(port, file, 'ProxyJump port') } : {}) };
}

/** OpenSSH's yes/no flags, which take true and false too, in any case (readconf.c's multistate_flag). */
function parseFlag(o: Obtained, what: string): boolean {
  const value = o.value.toLowerCase();
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  throw new SshConfigError(o.file, `${what} "${o.value}" is not yes or no`, `write ${what} yes or ${what} no`);
}

function parsePort(value: string, file: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new SshConfigError(file, `${what} "${value}" is not a port number`, 'write a number from 1 to 65535');
  return n;
}

/** glob(3) for Include: wildcards in any component, a leading dot matched only explicitly, results sorted. */
export function expandGlob(pattern: string): string[] {
  const parts = pattern.split('/').filter(Boolean);
  let found = ['/'];
  for (const part of parts) {
    if (!/[*?[]/.test(part)) {
      found = found.map((dir) => join(dir, part));
      continue;
    }
    const re = wildcardRegExp(part, '[^/]');
    found = found.flatMap((dir) =>
      listDir(dir)
        .filter((name) => re.test(name) && (name[0] !== '.' || part[0] === '.'))
        .sort()
        .map((name) => join(dir, name)),
    );
  }
  return found.filter((f) => existsSync(f));
}

/** `*` any run of `one`, `?` exactly one `one`; everything else literal but glob(3)'s `[...]` classes. */
function wildcardRegExp(pattern: string, one: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, `${one}*`)
    .replace(/\?/g, one);
  return new RegExp(`^${body}$`);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
