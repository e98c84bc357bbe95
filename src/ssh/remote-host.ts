import type { Duplex, Readable, Writable } from 'node:stream';
import type { Client } from 'ssh2';
import { HostError, KubestrapError, SshError } from '../errors.js';
import { execOnce, isSessionRefused, type ExecRequest, type ExecResult } from './exec.js';
import { commandHead, type SshLogSink } from './log.js';
import { putFile, type PutFileHost, type PutFileOptions } from './put-file.js';
import { redactor } from '../printable.js';
import { Semaphore } from './semaphore.js';
import { sourceOf, type StreamSource } from './stream-source.js';
import { SftpSession } from './sftp.js';
import { interpretSudo, rootCommand, rootCommandForStream, type Privilege } from './sudo.js';

export interface RunOptions {
  stdin?: string | Buffer;
  timeoutMs?: number;
}

export interface HostStats {
  handshakes: number;
  execs: number;
  sftpOps: number;
  /** Bytes sent as streamed command input (runWithInput): binaries, compressed as they travel. */
  streamedBytes?: number;
  /** Forwarded channels opened (forwardOut): the controller's own requests to the host's ports, no process on the host. */
  channels?: number;
}

export interface RemoteHost {
  readonly name: string;
  /** Runs a POSIX sh script as root: directly when the login user is root, else via sudo (-n, or -S with the password from the env var named by sudoPasswordEnv, fed on stdin, never echoed or logged). */
  run(script: string, opts?: RunOptions): Promise<ExecResult>;
  /**
   * Runs a POSIX sh script as root with `input` on its stdin, streamed with backpressure: for data
   * too large to hold in memory (binaries). The stream is opened only once the command can start.
   */
  runWithInput(script: string, input: () => Readable | StreamSource, opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /**
   * Runs a POSIX sh script as root with its stdout piped into `out` with backpressure (the result's
   * `stdout` is empty; `out` has finished when it resolves): for output too large to hold (a snapshot).
   */
  runToOutput(script: string, out: Writable, opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Atomic write (see put-file.ts); skipped when the remote sha256 already equals the content's. */
  putFile(path: string, content: Buffer | string, opts: PutFileOptions): Promise<{ written: boolean }>;
  /**
   * A TCP connection the host opens to `address:port` for the controller (see SshRemoteHost.forwardOut).
   * Absent where the host is not reached over SSH (tests' hosts that are local folders).
   */
  forwardOut?(address: string, port: number): Promise<Duplex>;
  /** Round trips so far on this connection (each exec or SFTP request/response exchange counted once; the handshake counted separately) */
  readonly stats: HostStats;
  close(): Promise<void>;
}

/**
 * OpenSSH's MaxSessions is 10 per connection. 8 exec channels plus the one long-lived SFTP channel
 * stay under it with one to spare. sshd frees a finished session a moment after the channel close
 * (measured on the lab: 2 of 20 back-to-back opens refused), hence OPEN_ATTEMPTS below.
 */
export const MAX_EXEC_CHANNELS = 8;

/** Session opens refused by a full MaxSessions are retried this often (20 ms, 40 ms, ... 160 ms apart). */
const OPEN_ATTEMPTS = 5;

/** How long close() waits for a clean SSH disconnect before dropping the socket. */
const CLOSE_GRACE_MS = 2000;

export interface HostSettings {
  name: string;
  user: string;
  privilege: Privilege;
  commandTimeoutMs: number;
  log?: SshLogSink;
  /**
   * Secrets (passwords, passphrases) scrubbed from the errors and log events this host makes. The
   * output of a command is handed back raw: callers parse it, and a password that also appears in a
   * host's file must not change what they read or write back.
   */
  secrets: readonly string[];
  /** Called once when the connection ends for any reason (the pool forgets it then). */
  onClosed?: () => void;
}

/** The input, after a preamble line if any (sudo's password), counting the bytes of the input itself. */
function counted(preamble: string | undefined, input: StreamSource, count: (bytes: number) => void): StreamSource {
  return async (write) => {
    if (preamble !== undefined) await write(Buffer.from(preamble, 'utf8'));
    await input((chunk) => {
      count(chunk.length);
      return write(chunk);
    });
  };
}

/** One persistent SSH connection to one host. */
export class SshRemoteHost implements RemoteHost {
  readonly name: string;
  readonly stats: HostStats = { handshakes: 1, execs: 0, sftpOps: 0 };
  private readonly channels = new Semaphore(MAX_EXEC_CHANNELS);
  private sftpSession: Promise<SftpSession> | undefined;
  private homeDir: Promise<string> | undefined;
  /** Set once sudo has said "you must have a tty" (requiretty): every later command gets a pty. */
  private needsPty = false;
  private lost: string | undefined;
  private closing = false;
  /** What putFile needs of this connection; one object, so putFile's per-host caches (owner ids) hit. */
  private readonly putFileHost: PutFileHost;
  private readonly scrub: (text: string) => string;

  constructor(
    private readonly client: Client,
    private readonly settings: HostSettings,
  ) {
    this.name = settings.name;
    this.scrub = redactor(settings.secrets);
    this.putFileHost = {
      name: settings.name,
      isRoot: settings.privilege.kind === 'root',
      run: (script) => this.run(script),
      sftp: () => this.sftp(),
      home: () => this.home(),
    };
    client.on('error', (err: Error) => {
      this.lost ??= err.message;
    });
    client.on('close', () => {
      this.lost ??= this.closing ? 'closed by kubestrap' : 'connection closed by the host or the network';
      this.sftpSession = undefined;
      if (!this.closing) settings.log?.({ host: this.name, kind: 'closed', detail: this.lost });
      settings.onClosed?.();
    });
  }

  async run(script: string, opts: RunOptions = {}): Promise<ExecResult> {
    const head = commandHead(script);
    const { privilege } = this.settings;
    const timeoutMs = opts.timeoutMs ?? this.settings.commandTimeoutMs;
    const cmd = rootCommand(this.name, script, privilege, opts.stdin, timeoutMs);
    if (privilege.kind === 'root') return this.exec(cmd.command, cmd.stdin, timeoutMs, head);
    if (this.needsPty && opts.stdin !== undefined) {
      throw new SshError(
        this.name,
        'sudo',
        `cannot pass stdin on this host: its sudo requires a tty (requiretty), and a tty mangles stdin (${head})`,
        `remove "Defaults requiretty" from the host's sudoers, or upload the data with putFile`,
      );
    }
    const first = await this.exec(cmd.command, cmd.stdin, timeoutMs, head);
    const outcome = interpretSudo(this.name, this.settings.user, privilege, first);
    if (outcome.kind === 'ran') return outcome.result;
    if (outcome.kind === 'refused') throw outcome.error;
    return this.retryWithPty(cmd.command, cmd.stdin, opts.stdin, timeoutMs, head);
  }

  async runWithInput(script: string, input: () => Readable | StreamSource, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const head = commandHead(script);
    const { privilege } = this.settings;
    const timeoutMs = opts.timeoutMs ?? this.settings.commandTimeoutMs;
    if (this.needsPty) throw this.noStreamWithTty(head);
    const cmd = rootCommandForStream(this.name, script, privilege, timeoutMs);
    const stdin = () => counted(cmd.preamble, sourceOf(input()), (n) => (this.stats.streamedBytes = (this.stats.streamedBytes ?? 0) + n));
    const result = await this.exec(cmd.command, stdin, timeoutMs, head);
    if (privilege.kind === 'root') return result;
    const outcome = interpretSudo(this.name, this.settings.user, privilege, result);
    if (outcome.kind === 'ran') return outcome.result;
    if (outcome.kind === 'refused') throw outcome.error;
    this.needsPty = true;
    throw this.noStreamWithTty(head);
  }

  async runToOutput(script: string, out: Writable, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const head = commandHead(script);
    const { privilege } = this.settings;
    const timeoutMs = opts.timeoutMs ?? this.settings.commandTimeoutMs;
    // A pty merges stderr into stdout: the stream would carry sudo's and the script's messages.
    if (this.needsPty) throw this.noStreamWithTty(head);
    const cmd = rootCommand(this.name, script, privilege, undefined, timeoutMs);
    const result = await this.exec(cmd.command, cmd.stdin, timeoutMs, head, out);
    if (privilege.kind === 'root') return result;
    const outcome = interpretSudo(this.name, this.settings.user, privilege, result);
    if (outcome.kind === 'ran') return outcome.result;
    if (outcome.kind === 'refused') throw outcome.error;
    this.needsPty = true;
    throw this.noStreamWithTty(head);
  }

  private noStreamWithTty(head: string): SshError {
    return new SshError(
      this.name,
      'sudo',
      `sudo on this host requires a tty (requiretty), which cannot carry a binary stream (${head})`,
      'remove "Defaults requiretty" from the host\'s sudoers (visudo), or log in as root',
    );
  }

  /** requiretty (old EL sudoers): run once more with a pty, and keep using one for this host. */
  private async retryWithPty(command: string, feed: string | Buffer | undefined, callerStdin: string | Buffer | undefined, timeoutMs: number, head: string): Promise<ExecResult> {
    if (callerStdin !== undefined) {
      throw new SshError(
        this.name,
        'sudo',
        `sudo on this host requires a tty (requiretty), which cannot carry stdin (${head})`,
        `remove "Defaults requiretty" from the host's sudoers (visudo), or upload the data with putFile`,
      );
    }
    if (!this.needsPty) {
      this.needsPty = true;
      this.settings.log?.({ host: this.name, kind: 'sudo-tty', detail: 'sudo requires a tty (requiretty): using a pty for this host from now on' });
    }
    const again = await this.exec(command, feed, timeoutMs, head);
    const outcome = interpretSudo(this.name, this.settings.user, this.settings.privilege, again);
    if (outcome.kind === 'ran') return outcome.result;
    if (outcome.kind === 'refused') throw outcome.error;
    throw new SshError(this.name, 'sudo', 'sudo still asks for a tty although one was given', `remove "Defaults requiretty" from the host's sudoers (visudo)`);
  }

  async putFile(path: string, content: Buffer | string, opts: PutFileOptions): Promise<{ written: boolean }> {
    const started = Date.now();
    const result = await putFile(this.putFileHost, path, content, opts).catch((err: unknown) => {
      throw this.scrubError(err);
    });
    this.settings.log?.({ host: this.name, kind: 'put-file', command: path, durationMs: Date.now() - started, detail: result.written ? 'written' : 'unchanged' });
    return result;
  }

  /**
   * A TCP connection that the host opens to `address:port` (from its own view: `127.0.0.1` is the
   * host itself), carried as a direct-tcpip channel of this connection: one round trip, no command
   * on the host. The host's sshd must allow TCP forwarding (AllowTcpForwarding, on by default).
   */
  forwardOut(address: string, port: number): Promise<Duplex> {
    const head = `forward to ${address}:${port}`;
    this.assertAlive(head);
    this.stats.channels = (this.stats.channels ?? 0) + 1;
    return new Promise((resolve, reject) => {
      this.client.forwardOut('127.0.0.1', 0, address, port, (err, channel) => {
        if (!err) return resolve(channel);
        const why = this.lost
          ? this.lostError(head)
          : new SshError(
              this.name,
              'exec',
              `the host could not open ${address}:${port}: ${err.message}`,
              `check that something listens on ${address}:${port} on ${this.name} and that its sshd allows TCP forwarding (AllowTcpForwarding)`,
            );
        reject(why);
      });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.lost) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, CLOSE_GRACE_MS);
      this.client.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      this.client.end();
    });
  }

  /** One exec round trip: queued behind the channel limit, counted, logged (errors and log events scrubbed, output raw). A stream input is opened once a channel is free. */
  private async exec(command: string, stdin: string | Buffer | (() => StreamSource) | undefined, timeoutMs: number, head: string, stdoutTo?: Writable): Promise<ExecResult> {
    this.assertAlive(head);
    return this.channels.use(async () => {
      this.assertAlive(head);
      const started = Date.now();
      try {
        const input = typeof stdin === 'function' ? stdin() : stdin;
        const req = { command, timeoutMs, pty: this.needsPty, head, ...(input === undefined ? {} : { stdin: input }), ...(stdoutTo ? { stdoutTo } : {}) };
        const res = await this.execRetryingRefusedOpen(req);
        this.settings.log?.({ host: this.name, kind: 'exec', command: this.scrub(head), durationMs: Date.now() - started, exitCode: res.code });
        return res;
      } catch (err) {
        const e = this.lost && !(err instanceof SshError && /timed out/.test(err.message)) ? this.lostError(head) : this.scrubError(err);
        this.settings.log?.({ host: this.name, kind: 'exec', command: this.scrub(head), durationMs: Date.now() - started, detail: e instanceof Error ? e.message : String(e) });
        throw e;
      }
    });
  }

  /** Retries a session open that sshd refused while it was still freeing a just-closed one. */
  private async execRetryingRefusedOpen(req: ExecRequest): Promise<ExecResult> {
    for (let attempt = 1; ; attempt++) {
      this.stats.execs++;
      try {
        return await execOnce(this.client, this.name, req);
      } catch (err) {
        if (!isSessionRefused(err) || attempt >= OPEN_ATTEMPTS || this.lost) throw err;
        await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
      }
    }
  }

  private assertAlive(head: string): void {
    if (this.lost) throw this.lostError(head);
  }

  private lostError(head: string): SshError {
    return new SshError(this.name, 'exec', `connection lost (${this.lost}) while running: ${head}`, 'the host may have rebooted, run out of memory or dropped off the network; check it and re-run');
  }

  private sftp(): Promise<SftpSession> {
    this.assertAlive('SFTP');
    if (!this.sftpSession) {
      // Channel open, subsystem request and version exchange: counted as one, once per connection.
      this.countSftp('SFTP session');
      const onClose = () => {
        this.sftpSession = undefined;
      };
      this.sftpSession = SftpSession.open(this.client, this.name, (what) => this.countSftp(what), onClose).catch((err: unknown) => {
        this.sftpSession = undefined;
        throw err;
      });
    }
    return this.sftpSession;
  }

  private countSftp(what: string): void {
    this.stats.sftpOps++;
    this.settings.log?.({ host: this.name, kind: 'sftp', command: what });
  }

  private home(): Promise<string> {
    this.homeDir ??= this.sftp().then((s) => s.realpath('.'));
    return this.homeDir;
  }

  /** Errors can quote host output; make sure no secret rides along. */
  private scrubError(err: unknown): unknown {
    if (!(err instanceof KubestrapError)) return err;
    const leaks = (s: string | undefined) => s !== undefined && this.settings.secrets.some((x) => x && s.includes(x));
    if (!leaks(err.message) && !leaks(err.hint) && !(err instanceof HostError && leaks(err.details.stderrTail))) return err;
    if (err instanceof SshError) return new SshError(err.host, err.stage, this.scrub(err.message), err.hint && this.scrub(err.hint));
    if (err instanceof HostError) {
      const d = err.details;
      return new HostError(err.host, this.scrub(err.message), { ...d, ...(d.stderrTail === undefined ? {} : { stderrTail: this.scrub(d.stderrTail) }) }, err.hint && this.scrub(err.hint));
    }
    return err;
  }
}
