import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { requireEnv, targetSecrets } from './auth.js';
import { connectError, connectWithRetry, type ConnectParams } from './connect.js';
import { HostKeyPolicy } from './host-keys.js';
import type { SshLogEvent, SshLogSink } from './log.js';
import { SshRemoteHost, type RemoteHost } from './remote-host.js';
import type { Privilege } from './sudo.js';
import { endpointKey, type SshEndpoint, type SshTarget } from './target.js';

// The types the engine needs next to the pool (the API lists them here).
export type { ExecResult } from './exec.js';
export type { RemoteHost, RunOptions, HostStats } from './remote-host.js';
export type { PutFileOptions } from './put-file.js';
export type { SshLogEvent, SshLogKind } from './log.js';

export interface SshOptions {
  /** kubestrap's own known_hosts for the cluster (OpenSSH format). */
  knownHostsFile: string;
  /** Record unknown keys instead of refusing. Changed and revoked keys are refused regardless. */
  acceptNewHostKeys: boolean;
  /** Default 10 s: TCP connect, handshake and auth together. */
  connectTimeoutMs?: number;
  /** Default 120 s, per command. */
  commandTimeoutMs?: number;
  /** Default 10 s; after 3 unanswered keepalives the connection counts as lost. */
  keepaliveIntervalMs?: number;
  /** Default 3. Retries only connect-level failures (refused, timeout, reset), with backoff; never auth or host-key failures. */
  connectAttempts?: number;
  /** Debug log sink: host, kind, command head, duration, exit code. Never passwords, never file contents. */
  log?: (event: SshLogEvent) => void;
}

/**
 * The connections of one run: one per host, kept open for the whole run, and one per jump host,
 * shared by every target behind it. Asking twice for the same host gives the same connection.
 */
export class SshPool {
  private readonly hosts = new Map<string, Promise<SshRemoteHost>>();
  private readonly jumps = new Map<string, Promise<Client>>();
  private readonly hostKeys: HostKeyPolicy;
  private readonly log: SshLogSink | undefined;

  constructor(private readonly opts: SshOptions) {
    const sink = opts.log;
    // A failing log sink must not fail the run.
    this.log = sink
      ? (e) => {
          try {
            sink(e);
          } catch {
            /* ignored */
          }
        }
      : undefined;
    this.hostKeys = new HostKeyPolicy(opts.knownHostsFile, opts.acceptNewHostKeys, this.log);
  }

  /**
   * The connection to this host (by target name), made on first use. A failed or lost connection
   * is forgotten, so asking again after a host rebooted connects anew.
   */
  connect(target: SshTarget): Promise<RemoteHost> {
    return this.connection(target);
  }

  /** A TCP connection from the host to `address:port` through its pooled SSH connection (see SshRemoteHost.forwardOut). */
  async forwardOut(target: SshTarget, address: string, port: number): Promise<Duplex> {
    return (await this.connection(target)).forwardOut(address, port);
  }

  private connection(target: SshTarget): Promise<SshRemoteHost> {
    const existing = this.hosts.get(target.name);
    if (existing) return existing;
    const forget = () => {
      if (this.hosts.get(target.name) === made) this.hosts.delete(target.name);
    };
    const made = this.open(target, forget);
    this.hosts.set(target.name, made);
    made.catch(forget);
    return made;
  }

  async closeAll(): Promise<void> {
    const hosts = [...this.hosts.values()];
    this.hosts.clear();
    await Promise.all(
      hosts.map((h) =>
        h.then(
          (x) => x.close(),
          () => undefined,
        ),
      ),
    );
    const jumps = [...this.jumps.values()];
    this.jumps.clear();
    await Promise.all(jumps.map((j) => j.then(endClient, () => undefined)));
  }

  private async open(target: SshTarget, onClosed: () => void): Promise<SshRemoteHost> {
    // Read the sudo password first: a missing variable should stop us before we touch the network.
    const privilege = this.privilegeFor(target);
    const secrets = targetSecrets(target);
    const params = this.params(target);
    if (target.jump) {
      const jump = target.jump;
      // Connect the jump host first, with its own retries, so a dead jump host fails once with its
      // own name instead of being retried again by every attempt of the target.
      await this.jumpClient(jump);
      params.via = `${jump.name} (${jump.user}@${jump.address}:${jump.port})`;
      params.openSock = async () => tunnel(await this.jumpClient(jump), jump, target);
    }
    const client = await connectWithRetry(params, this.opts.connectAttempts ?? 3);
    return new SshRemoteHost(client, {
      name: target.name,
      user: target.user,
      privilege,
      commandTimeoutMs: this.opts.commandTimeoutMs ?? 120_000,
      secrets,
      onClosed,
      ...(this.log ? { log: this.log } : {}),
    });
  }

  private privilegeFor(target: SshTarget): Privilege {
    if (target.user === 'root') return { kind: 'root' };
    if (!target.sudoPasswordEnv) return { kind: 'sudo' };
    const password = requireEnv(target.name, 'sudo', target.sudoPasswordEnv, `the sudo password of ${target.user}`);
    return { kind: 'sudo', password, passwordEnv: target.sudoPasswordEnv };
  }

  private params(endpoint: SshEndpoint): ConnectParams {
    return {
      endpoint,
      hostKeys: this.hostKeys,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      keepaliveIntervalMs: this.opts.keepaliveIntervalMs ?? 10_000,
      ...(this.log ? { log: this.log } : {}),
    };
  }

  /** The shared connection to a jump host; dropped from the pool when it dies so the next target reconnects. */
  private jumpClient(jump: SshEndpoint): Promise<Client> {
    const key = endpointKey(jump);
    const existing = this.jumps.get(key);
    if (existing) return existing;
    const made = connectWithRetry(this.params(jump), this.opts.connectAttempts ?? 3);
    this.jumps.set(key, made);
    made.then(
      (client) => {
        client.on('error', () => undefined);
        client.on('close', () => {
          if (this.jumps.get(key) === made) this.jumps.delete(key);
        });
      },
      () => this.jumps.delete(key),
    );
    return made;
  }
}

/** A direct-tcpip channel from the jump host to the target: the target's SSH connection runs inside it. */
function tunnel(jumpClient: Client, jump: SshEndpoint, target: SshTarget): Promise<Duplex> {
  const fail = (why: string) =>
    connectError(
      target.name,
      `jump host ${jump.name} cannot reach ${target.address}:${target.port}: ${why}`,
      `check that ${target.address}:${target.port} is reachable from ${jump.name} and that its sshd allows TCP forwarding (AllowTcpForwarding)`,
      true,
    );
  return new Promise((resolve, reject) => {
    try {
      jumpClient.forwardOut('127.0.0.1', 0, target.address, target.port, (err, channel) => (err ? reject(fail(err.message)) : resolve(channel)));
    } catch (err) {
      // The jump connection died since it was pooled; the retry will make a new one.
      reject(fail((err as Error).message));
    }
  });
}

function endClient(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      client.destroy();
      resolve();
    }, 2000);
    client.once('close', () => {
      clearTimeout(force);
      resolve();
    });
    client.end();
  });
}
