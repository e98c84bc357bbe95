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
  hosts: z
    .array(
      z.object({
        host: z.string(),
        roundTrips: z.object({
          handshakes: z.number().int(),
          execs: z.number().int().meta({ description: 'commands run on the host: one for its checks (two on the master that runs the pod check of --deep)' }),
          sftpOps: z.number().int(),
          channels: z.number().int().optional().meta({ description: "forwarded channels: kubestrap's own requests to the host's API server or etcd, no process on the host" }),
        }),
      }),
    )
    .optional()
    .meta({ description: 'each reached host and what the checks cost it over SSH' }),
});

export function healthJson(report: HealthReport, filter: TextFilter): string {
  return jsonReport(
    healthReportSchema,
    {
      ok: report.ok,
      durationMs: report.durationMs,
      checks: report.rows,
      hosts: report.roundTrips.map(({ host, handshakes, execs, sftpOps, channels }) => ({ host, roundTrips: { handshakes, execs, sftpOps, ...(channels === undefined ? {} : { channels }) } })),
    },
    filter,
  );
}
