import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import type { Client, ClientChannel, PseudoTtyOptions } from 'ssh2';
import { SshError } from '../errors.js';
import type { StreamSource } from './stream-source.js';

/**
 * One command on one session channel: collect output, feed stdin, enforce the timeout, and turn a
 * dropped connection into a clear rejection rather than a promise that never settles.
 */

export interface ExecResult {
  /** Exit status; 128 + signal number when the command was killed by a signal (like sh's `$?`). */
  code: number;
  /** Signal name (`SIGKILL`) when the command was killed by one. */
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecRequest {
  command: string;
  /** Fed to the command, then EOF. A source writes chunk by chunk, each taken before the next (never held whole in memory). */
  stdin?: string | Buffer | StreamSource;
  timeoutMs: number;
  /** Run with a pseudo-terminal (for sudo's requiretty); stderr then arrives merged into stdout. */
  pty: boolean;
  /** What to call the command in messages: its first line, never its full text. */
  head: string;
  /**
   * Where stdout goes instead of into the result (whose `stdout` is then empty): piped with
   * backpressure, so output too large to hold (a snapshot) is never whole in memory. It is ended
   * when the command's output ends, and the result waits for it to finish.
   */
  stdoutTo?: Writable;
}

// A pty with echo off and no CR/LF translation, so a password fed on stdin is never echoed back and
// output reads as it would without a tty.
const QUIET_PTY: PseudoTtyOptions = { term: 'dumb', modes: { ECHO: 0, ONLCR: 0 } };

// Session opens the server refused ("open failed"): the command never started, so trying again is safe.
const refusedOpens = new WeakSet<SshError>();

/**
 * True when the server refused to open the session. sshd frees a finished session only after the
 * channel close is fully processed, so a new open sent right after a close can briefly find
 * MaxSessions still full; the caller retries after a short pause.
 */
export function isSessionRefused(err: unknown): boolean {
  return err instanceof SshError && refusedOpens.has(err);
}

export function execOnce(client: Client, host: string, req: ExecRequest): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    const onOpened = (err: Error | undefined, channel: ClientChannel) => {
      if (err) {
        const e = new SshError(
          host,
          'exec',
          `cannot open a session for: ${req.head}: ${err.message}`,
          'the connection may be lost or the server refuses more sessions (MaxSessions); re-run, and check the host',
        );
        if (/open failed|administratively prohibited/i.test(err.message)) refusedOpens.add(e);
        reject(e);
        return;
      }
      collect(channel, host, req).then(resolve, reject);
    };
    try {
      client.exec(req.command, req.pty ? { pty: QUIET_PTY } : {}, onOpened);
    } catch (err) {
      // ssh2 throws "Not connected" at once when the socket is already gone.
      reject(new SshError(host, 'exec', `connection lost (${(err as Error).message}) before running: ${req.head}`, 'the host may have rebooted or dropped off the network; check it and re-run'));
    }
  });
}

function collect(channel: ClientChannel, host: string, req: ExecRequest): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let exit: { code: number; signal?: string } | undefined;
    let timedOut = false;
    let inputError: Error | undefined;
    let closed = false;
    const pendingWrites = new Set<(err: Error) => void>();

    const timer = setTimeout(() => {
      timedOut = true;
      // Drop the channel: the caller must not wait on a hung host. Closing does not stop the
      // command; the `timeout` the launcher put around it does (see sudo.ts).
      channel.close();
      reject(new SshError(host, 'exec', `command timed out after ${formatMs(req.timeoutMs)}: ${req.head}`, 'find out why it hangs on the host (a lock, a prompt, the network), or allow it more time'));
    }, req.timeoutMs);

    let outputDone: Promise<void> = Promise.resolve();
    let outputError: Error | undefined;
    const keepError = (err: Error) => new SshError(host, 'exec', `could not keep the output of: ${req.head}: ${err.message}`, 'check the local folder it was written to (space, permissions)');
    const out = req.stdoutTo;
    if (out) {
      outputDone = new Promise<void>((resolve, reject) => {
        out.once('finish', resolve);
        out.once('error', reject);
      });
      // A writable that fails (a full disk) stops the command's output: nothing more can be kept.
      // The rest is read and dropped, or ssh2 would hold the channel's close behind unread data.
      outputDone.catch((err: unknown) => {
        outputError = err instanceof Error ? err : new Error(String(err));
        channel.unpipe(out);
        channel.resume();
        channel.close();
      });
      // pipe() pauses the channel while the writable is full; ssh2 then stops widening the window,
      // so the host's sshd holds the rest back instead of this process buffering it.
      channel.pipe(out);
    } else channel.on('data', (d: Buffer) => stdout.push(d));
    channel.stderr.on('data', (d: Buffer) => stderr.push(d));
    channel.on('exit', (code: number | null, signal?: string) => {
      exit = code === null ? { code: 128 + signalNumber(signal), signal } : { code };
    });
    channel.on('close', () => {
      closed = true;
      // A source waiting for the channel to take a chunk must not wait forever.
      for (const reject of pendingWrites) reject(new Error('the connection closed the input'));
      clearTimeout(timer);
      if (timedOut) return;
      if (inputError && !exit) {
        reject(new SshError(host, 'exec', `could not send the input of: ${req.head}: ${inputError.message}`, 'check the local file kubestrap was sending'));
        return;
      }
      if (outputError) {
        reject(keepError(outputError));
        return;
      }
      if (!exit) {
        reject(new SshError(host, 'exec', `connection lost while running: ${req.head}`, 'the host may have rebooted, run out of memory or dropped off the network; check it and re-run'));
        return;
      }
      const result: ExecResult = { code: exit.code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
      if (exit.signal) result.signal = exit.signal;
      // A channel that closed without its end of output must still end the writable, or this waits forever.
      if (out && !out.writableEnded) out.end();
      outputDone.then(
        () => resolve(result),
        (err: unknown) => reject(keepError(err instanceof Error ? err : new Error(String(err)))),
      );
    });
    // Always send EOF: a command that reads stdin must see its end, not wait for the timeout.
    if (req.stdin === undefined) channel.end();
    else if (typeof req.stdin === 'string' || Buffer.isBuffer(req.stdin)) channel.end(req.stdin);
    else {
      const write = (chunk: Buffer) =>
        new Promise<void>((resolve, reject) => {
          if (closed) return reject(new Error('the connection closed the input'));
          pendingWrites.add(reject);
          channel.write(chunk, (err) => {
            pendingWrites.delete(reject);
            if (err) reject(err);
            else resolve();
          });
        });
      // EOF after the last chunk; a failing source closes the channel instead.
      req.stdin(write).then(
        () => channel.end(),
        (err: unknown) => {
          if (exit) return;
          inputError = err instanceof Error ? err : new Error(String(err));
          channel.close();
        },
      );
    }
  });
}

function signalNumber(signal: string | undefined): number {
  const n = signal ? (constants.signals as Record<string, number | undefined>)[signal] : undefined;
  return n ?? 127;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
