import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { filteredJson, printable, type TextFilter } from '../printable.js';

/**
 * The debug log of one run: one JSON object per line (connection steps, commands with their exit
 * codes and durations, phase results). It never holds secrets: the SSH layer logs only the first
 * line of a command and no file content, and every string passes `filter` (secrets redacted, control
 * characters escaped) on its way in.
 */
export class RunLog {
  readonly file: string;
  private readonly fd: number;

  constructor(
    logsDir: string,
    command: string,
    private readonly filter: TextFilter = printable,
  ) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.file = join(logsDir, `${stamp}-${command}.log`);
    this.fd = openSync(this.file, 'a', 0o600);
  }

  write(event: Record<string, unknown>): void {
    writeSync(this.fd, `${filteredJson({ at: new Date().toISOString(), ...event }, this.filter)}\n`);
  }

  close(): void {
    closeSync(this.fd);
  }
}
