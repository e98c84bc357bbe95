/**
 * The debug log: one event per connection step, command and transfer. It carries what helps to
 * find a slow or failing step (host, what, how long, exit code) and never secrets: no passwords, no
 * file contents, and of a command only its first line.
 */

export type SshLogKind =
  | 'connect' // one connection attempt starts
  | 'retry' // an attempt failed at connect level and will be retried
  | 'connected' // handshake and auth done
  | 'hostkey-recorded' // an unknown host key was appended to known_hosts
  | 'exec' // one command finished (or timed out)
  | 'sudo-tty' // sudo demanded a tty: this host's commands now run with a pty
  | 'sftp' // one SFTP request
  | 'put-file' // a putFile finished (written or skipped)
  | 'closed'; // the connection ended

export interface SshLogEvent {
  host: string;
  kind: SshLogKind;
  /** First line of the command, or the SFTP request and path. */
  command?: string;
  durationMs?: number;
  exitCode?: number;
  detail?: string;
}

export type SshLogSink = (event: SshLogEvent) => void;

const HEAD_MAX = 120;

/** The first non-empty line of a script, cut to a readable length: enough to recognise it in a log. */
export function commandHead(script: string): string {
  const line = script.split('\n').find((l) => l.trim() !== '') ?? '';
  const trimmed = line.trim();
  return trimmed.length > HEAD_MAX ? `${trimmed.slice(0, HEAD_MAX - 1)}…` : trimmed;
}
