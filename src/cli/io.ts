import type { Writable } from 'node:stream';
import { formatWarning, KubestrapError, type Warning } from '../errors.js';
import { printable } from '../printable.js';

/** Where a command writes; tests pass their own streams. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

export const EXIT_OK = 0;
/** Something failed on a host, or the run could not finish. */
export const EXIT_FAILED = 1;
/** The input was refused before anything was touched. */
export const EXIT_INVALID_INPUT = 2;

export function printWarnings(io: CliIo, warnings: readonly Warning[]): void {
  for (const w of warnings) io.stderr.write(`${printable(formatWarning(w))}\n`);
}

/**
 * Prints a failure; known errors as their clear block, anything else with its stack under --debug.
 * Messages quote input values and hosts' output, so control characters are escaped.
 */
export function printError(io: CliIo, err: unknown, debug = false): void {
  if (err instanceof KubestrapError) {
    io.stderr.write(`error: ${printable(err.format())}\n`);
    if (debug && err.stack) io.stderr.write(`${printable(err.stack)}\n`);
    return;
  }
  const text = err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message) : String(err);
  io.stderr.write(`error: ${printable(text)}\n`);
}

/**
 * A plain left-aligned table; the last column is right-aligned when numeric. Cells hold names and
 * values read from hosts and inputs, so each is shown escaped, newlines included: no cell moves the
 * cursor or starts a line of its own.
 */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows].map((row) => row.map((cell) => printable(cell, { keepNewlines: false })));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const numeric = rows.length > 0 && rows.every((r) => /^\d+$/.test(r.at(-1) ?? ''));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 && numeric ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
