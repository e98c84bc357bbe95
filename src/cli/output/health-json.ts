import { z } from 'zod';
import type { HealthReport } from '../../health/run.js';
import type { TextFilter } from '../../printable.js';
import { jsonReport } from './json.js';

/** One check on one host (or the cluster), as `health` and `etcd restore` report it. */
export const healthRowSchema = z.object({
  check: z.string().meta({ description: 'what was checked, e.g. etcd endpoint, apiserver /readyz, node Ready' }),
  host: z.string().meta({ description: 'the host it ran on, or the node it is about' }),
  ok: z.boolean(),
  detail: z.string().meta({ description: 'what the host answered, or why it failed and what to look at' }),
});

/** `health`: every check's row; ok when all passed. */
export const healthReportSchema = z.object({
  ok: z.boolean(),
  durationMs: z.number().int(),
  checks: z.array(healthRowSchema),
});

export function healthJson(report: HealthReport, filter: TextFilter): string {
  return jsonReport(healthReportSchema, { ok: report.ok, durationMs: report.durationMs, checks: report.rows }, filter);
}
