import { z } from 'zod';
import { HostError, type KubestrapError } from '../../errors.js';
import { filteredJson, printable, type TextFilter } from '../../printable.js';

/**
 * Every command's `--output json` goes through here: the report is parsed by the command's zod
 * schema (the one `schemas/<command>.schema.json` is generated from, see REPORT_SCHEMAS) before it
 * is printed, so what a script reads cannot drift from the documented schema. A report that does
 * not fit is a kubestrap bug, caught by the unit tests that check printed reports against the
 * schema files; on a user's run it is still printed (an apply that changed hosts must not lose its
 * report to a bug in its description), with the mismatch said on stderr. Every string then passes
 * `filter` (control characters escaped, known secrets redacted), as in the text output.
 */
export function jsonReport<S extends z.ZodType>(schema: S, report: z.input<S>, filter: TextFilter = printable, warn: (line: string) => void = (line) => onMismatch(line)): string {
  const parsed = schema.safeParse(report);
  if (!parsed.success) warn(`kubestrap bug: this report does not fit its documented schema, please report it: ${printable(z.prettifyError(parsed.error))}\n`);
  return `${filteredJson(parsed.success ? parsed.data : report, filter, 2)}\n`;
}

let onMismatch: (line: string) => void = (line) => process.stderr.write(line);

/** The test suites make a report that does not fit its schema fail the test (test/support/strict-reports.ts). */
export function onReportMismatch(handler: (line: string) => void): void {
  onMismatch = handler;
}

/** A kubestrap error as reports carry it: its kind, where, the message, the fix, and a host command's parts. */
export const errorJsonSchema = z
  .object({
    kind: z.string().meta({ description: 'the error class: config, inventory, ssh, host, artifact, ...' }),
    where: z.string().meta({ description: 'the file:line, host or subject it is about' }),
    message: z.string(),
    hint: z.string().nullable().meta({ description: 'what to do about it' }),
    details: z
      .object({
        resource: z.string().optional(),
        command: z.string().optional(),
        exitCode: z.number().int().optional(),
        stderrTail: z.string().optional(),
        journalTail: z.string().optional(),
      })
      .optional()
      .meta({ description: 'a failed command on a host: which resource, the command, how it ended' }),
  })
  .nullable();

export function errorJson(err: KubestrapError | undefined): z.input<typeof errorJsonSchema> {
  if (!err) return null;
  return {
    kind: err.kind,
    where: err.where(),
    message: err.message,
    hint: err.hint ?? null,
    ...(err instanceof HostError ? { details: err.details } : {}),
  };
}
