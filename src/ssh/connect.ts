import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Algorithms, Client, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { SshError } from '../errors.js';
import { makeAuthHandler, resolveAuth } from './auth.js';
import { CoalescingSocket } from './coalescing-socket.js';
import type { HostKeyPolicy } from './host-keys.js';
import type { SshLogSink } from './log.js';
import type { SshEndpoint } from './target.js';

/**
 * One SSH connection, made with retries. Only failures of the network path are retried (refused,
 * reset, timed out, dropped before the handshake: a host still booting, sshd restarting); a host
 * key or credential problem will not fix itself, and retrying auth would only feed fail2ban.
 */

export interface ConnectParams {
  endpoint: SshEndpoint;
  hostKeys: HostKeyPolicy;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** Network path through a jump host; when absent, a TCP connection to endpoint.address:port. */
  openSock?: () => Promise<Duplex>;
  /** Shown in messages when the path goes through a jump host. */
  via?: string;
  log?: SshLogSink;
}

// Errors from a failing network path, marked here so the retry loop can tell them apart.
const retryable = new WeakSet<SshError>();

export function isRetryable(err: unknown): boolean {
  return err instanceof SshError && retryable.has(err);
}

export function connectError(host: string, message: string, hint: string, canRetry: boolean): SshError {
  const err = new SshError(host, 'connect', message, hint);
  if (canRetry) retryable.add(err);
  return err;
}

export async function connectWithRetry(params: ConnectParams, attempts: number): Promise<Client> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(params, attempt);
    } catch (err) {
      if (!isRetryable(err) || attempt >= attempts) throw err;
      const delayMs = backoffMs(attempt);
      params.log?.({ host: params.endpoint.name, kind: 'retry', detail: `${(err as SshError).message}; attempt ${attempt + 1} of ${attempts} in ${delayMs} ms` });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/** 250 ms, 500 ms, 1 s, ... capped at 4 s: enough for sshd to come back, short for a quick retry. */
export function backoffMs(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 4000);
}

async function connectOnce(params: ConnectParams, attempt: number): Promise<Client> {
  const { endpoint, hostKeys, log } = params;
  const started = Date.now();
  log?.({ host: endpoint.name, kind: 'connect', detail: `${endpoint.user}@${endpoint.address}:${endpoint.port}${params.via ? ` via ${params.via}` : ''} attempt ${attempt}` });
  const auth = await resolveAuth(endpoint);
  const check = await hostKeys.prepare(endpoint);
  const sock = params.openSock ? await params.openSock() : new CoalescingSocket().connect({ host: endpoint.address, port: endpoint.port });
  const tried: string[] = [];
  const algorithms: Algorithms = {};
  if (check.serverHostKey) algorithms.serverHostKey = check.serverHostKey as ServerHostKeyAlgorithm[];

  const config: ConnectConfig = {
    host: endpoint.address,
    port: endpoint.port,
    username: endpoint.user,
    sock,
    readyTimeout: params.connectTimeoutMs,
    keepaliveInterval: params.keepaliveIntervalMs,
    keepaliveCountMax: 3,
    algorithms,
    authHandler: makeAuthHandler(auth.candidates, tried),
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      void check.verify(key).then(verify);
    },
  };

  const client = new ssh2.Client();
  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const fail = (err: SshError) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(err);
    };
    client.once('ready', () => {
      settled = true;
      // Without TCP_NODELAY a command sent right after the previous one's close waits for the
      // server's delayed ACK (40 ms on Linux): Nagle would cost every back-to-back exec 40 ms.
      client.setNoDelay(true);
      log?.({ host: endpoint.name, kind: 'connected', durationMs: Date.now() - started, detail: tried.join(', ') });
      resolve(client);
    });
    // Kept for the connection's life: an 'error' without a listener would crash the process.
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      fail(check.failure ?? classify(params, err, tried, check.serverHostKey));
    });
    client.on('close', () => {
      fail(
        check.failure ??
          connectError(
            endpoint.name,
            `connection to ${target(params)} closed during the handshake`,
            'check that sshd runs on that port and accepts this client (MaxStartups, TCP wrappers, firewall)',
            true,
          ),
      );
    });
    try {
      client.connect(config);
    } catch (err) {
      fail(connectError(endpoint.name, `cannot start the SSH connection: ${(err as Error).message}`, 'check the host entry in the inventory', false));
    }
  });
}

function target(params: ConnectParams): string {
  const { endpoint } = params;
  return `${endpoint.user}@${endpoint.address}:${endpoint.port}${params.via ? ` (via ${params.via})` : ''}`;
}

const RETRYABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED']);

/** Maps an ssh2 error before 'ready' to a message that says which step failed and what to do. */
function classify(params: ConnectParams, err: Error & { level?: string; code?: string }, tried: readonly string[], offeredHostKeys: readonly string[] | undefined): SshError {
  const { endpoint } = params;
  const to = target(params);
  if (err.level === 'client-authentication' || /authentication/i.test(err.message)) {
    return new SshError(
      endpoint.name,
      'auth',
      `${to} rejected the login of user ${endpoint.user} (tried: ${tried.join(', ') || 'nothing the server accepts'})`,
      `check the user name, that the public key is in ~${endpoint.user}/.ssh/authorized_keys on the host, or the password`,
    );
  }
  if (err.level === 'handshake' && /host key/i.test(err.message) && offeredHostKeys) {
    return params.hostKeys.noCommonKeyType(endpoint, offeredHostKeys);
  }
  if (err.level === 'client-timeout') {
    return connectError(
      endpoint.name,
      `no SSH handshake with ${to} within ${params.connectTimeoutMs} ms`,
      'check that the host is up and the address and port are right; raise the connect timeout on slow links',
      true,
    );
  }
  if (err.level === 'client-socket' && err.code === 'ENOTFOUND') {
    return connectError(endpoint.name, `cannot resolve ${endpoint.address}`, 'check the address in the inventory', false);
  }
  if (err.level === 'client-socket' || /channel open failure/i.test(err.message)) {
    const canRetry = err.code === undefined || RETRYABLE_SOCKET_CODES.has(err.code) || /channel open failure/i.test(err.message);
    return connectError(endpoint.name, `cannot reach ${to}: ${err.message}`, 'check that the host is up, sshd is running and the port is open', canRetry);
  }
  if (/connection lost before handshake/i.test(err.message)) {
    return connectError(endpoint.name, `${to} closed the connection before the SSH handshake`, 'sshd may be starting or overloaded (MaxStartups); check it runs and accepts connections', true);
  }
  return connectError(endpoint.name, `SSH connection to ${to} failed: ${err.message}`, 'check the host and sshd; run with debug logging for details', err.level === 'client-ssh');
}
