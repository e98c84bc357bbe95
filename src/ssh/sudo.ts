import { SshError } from '../errors.js';
import type { ExecResult } from './exec.js';
import { shq } from './quote.js';

/**
 * Running a script as root: as is for a root login, else through sudo. The script always runs
 * under `sh -c` so it is POSIX sh whatever the user's login shell is, and it travels as a
 * positional argument (`sh -c LAUNCHER sh SCRIPT`) so it is quoted exactly once.
 *
 * To tell "sudo refused" from "the script failed", the launcher first prints a marker line to
 * stderr; no marker means sudo never started it. The marker is removed from the result.
 *
 * The launcher also puts the script under `timeout` on the host. When our client-side timeout
 * fires we can only close the channel, and that does not stop the command: sshd refuses the SSH
 * "signal" request for root sessions ("session signalling requires privilege separation"), a sudo
 * user's signal cannot reach root's processes, and sshd keeps the session slot (MaxSessions)
 * until the command exits. So the host kills the command's whole process group one second after
 * our deadline. Hosts without `timeout` (not seen on any supported distro) run the script bare.
 */

export type Privilege = { kind: 'root' } | { kind: 'sudo'; password?: string; passwordEnv?: string };

export const SUDO_MARKER = '__kubestrap_sudo_ok__';

/**
 * Linux caps one argument at 128 KiB (MAX_ARG_STRLEN) and the script is one argument; refusing
 * early beats the host's cryptic "Argument list too long".
 */
export const MAX_SCRIPT_BYTES = 120 * 1024;

export interface RootCommand {
  command: string;
  stdin?: string | Buffer;
}

/** Whole seconds the host allows: our deadline plus one, so our own, clearer timeout error wins. */
export function hostDeadlineSec(timeoutMs: number): number {
  return Math.ceil(timeoutMs / 1000) + 1;
}

/** Runs "$1" as a POSIX sh script, under `timeout` when the host has it. */
function launcher(timeoutMs: number): string {
  const secs = hostDeadlineSec(timeoutMs);
  return `if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL ${secs} sh -c "$1"; else exec sh -c "$1"; fi`;
}

export function rootCommand(host: string, script: string, priv: Privilege, stdin: string | Buffer | undefined, timeoutMs: number): RootCommand {
  const size = Buffer.byteLength(script);
  if (size > MAX_SCRIPT_BYTES) {
    throw new SshError(host, 'exec', `script is ${size} bytes; one command may be at most ${MAX_SCRIPT_BYTES} bytes`, 'split the script, or upload it with putFile and run the file');
  }
  const args = `sh ${shq(script)}`;
  if (priv.kind === 'root') return withStdin({ command: `sh -c ${shq(launcher(timeoutMs))} ${args}` }, stdin);
  const marked = shq(`printf '%s\\n' ${SUDO_MARKER} >&2; ${launcher(timeoutMs)}`);
  if (priv.password === undefined) return withStdin({ command: `sudo -n sh -c ${marked} ${args}` }, stdin);
  if (stdin !== undefined) {
    throw new SshError(
      host,
      'sudo',
      'cannot pass stdin to a command when sudo needs a password (the password is fed on stdin)',
      'give the user NOPASSWD sudo, log in as root, or upload the data with putFile and read the file',
    );
  }
  // -S reads the password from stdin, -p '' keeps the prompt out of stderr.
  return { command: `sudo -S -p '' sh -c ${marked} ${args}`, stdin: `${priv.password}\n` };
}

/**
 * The command for a script that reads a stream on stdin. A sudo password goes first on stdin, as
 * its own line: sudo -S reads the password one byte at a time up to the newline, so the rest of
 * stdin reaches the script untouched.
 */
export function rootCommandForStream(host: string, script: string, priv: Privilege, timeoutMs: number): { command: string; preamble?: string } {
  if (priv.kind === 'sudo' && priv.password !== undefined) {
    const { command } = rootCommand(host, script, { kind: 'sudo' }, undefined, timeoutMs);
    return { command: command.replace(/^sudo -n /, "sudo -S -p '' "), preamble: `${priv.password}\n` };
  }
  return { command: rootCommand(host, script, priv, undefined, timeoutMs).command };
}

function withStdin(cmd: RootCommand, stdin: string | Buffer | undefined): RootCommand {
  return stdin === undefined ? cmd : { ...cmd, stdin };
}

export type SudoOutcome = { kind: 'ran'; result: ExecResult } | { kind: 'needs-tty' } | { kind: 'refused'; error: SshError };

/**
 * Reads a sudo-wrapped command's result: either the script ran (marker seen, marker removed), or
 * sudo demanded a tty (the caller retries with a pty), or sudo refused and we say why.
 */
export function interpretSudo(host: string, user: string, priv: Privilege, result: ExecResult): SudoOutcome {
  const inStderr = stripMarker(result.stderr);
  if (inStderr !== undefined) return { kind: 'ran', result: { ...result, stderr: inStderr } };
  // With a pty, stderr arrives merged into stdout.
  const inStdout = stripMarker(result.stdout);
  if (inStdout !== undefined) return { kind: 'ran', result: { ...result, stdout: inStdout } };
  const said = `${result.stderr}\n${result.stdout}`;
  if (/must have a tty|requiretty/i.test(said)) return { kind: 'needs-tty' };
  return { kind: 'refused', error: sudoError(host, user, priv, said, result.code) };
}

function stripMarker(text: string): string | undefined {
  const re = new RegExp(`^${SUDO_MARKER}\\r?\\n`, 'm');
  return re.test(text) ? text.replace(re, '') : undefined;
}

function sudoError(host: string, user: string, priv: Privilege, said: string, code: number): SshError {
  const usePassword = priv.kind === 'sudo' && priv.password !== undefined;
  const sudoers = `/etc/sudoers.d/kubestrap: "${user} ALL=(ALL) NOPASSWD: ALL"`;
  if (/password is required|no askpass program/i.test(said)) {
    return new SshError(
      host,
      'sudo',
      `sudo for ${user} needs a password`,
      `allow ${user} sudo without a password (${sudoers}), or set sudoPasswordEnv to the name of an environment variable holding the password`,
    );
  }
  if (/incorrect password|sorry, try again|no password was provided/i.test(said)) {
    const env = priv.kind === 'sudo' && priv.passwordEnv ? priv.passwordEnv : 'the sudo password variable';
    return new SshError(host, 'sudo', `sudo rejected the password for ${user}`, `check the value of ${env}`);
  }
  if (/not in the sudoers|not allowed to|may not run sudo/i.test(said)) {
    return new SshError(host, 'sudo', `${user} may not use sudo on this host`, `add ${user} to sudoers (${sudoers}), or log in as root`);
  }
  if (code === 127 || /sudo: (command )?not found/i.test(said)) {
    return new SshError(host, 'sudo', `sudo is not installed (the login user ${user} is not root)`, 'install sudo on the host, or log in as root');
  }
  const tail = lastLines(said.trim(), 5) || '(no output)';
  return new SshError(
    host,
    'sudo',
    `sudo did not run the command (exit ${code}${usePassword ? ', password given' : ''}): ${tail}`,
    'run `sudo -n true` as that user on the host to see what sudo wants',
  );
}

function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join(' | ');
}
