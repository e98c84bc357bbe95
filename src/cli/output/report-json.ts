import { HostError, type KubestrapError } from '../../errors.js';
import type { Change } from '../../engine/change.js';
import { runSucceeded, type RunReport } from '../../engine/report.js';
import { filteredJson, printable, type TextFilter } from '../../printable.js';
import { changeLines } from './changes-text.js';

/** The report for machines: stable field names, no ANSI, errors with their parts; every string passes `filter`. */
export function reportJson(report: RunReport, filter: TextFilter = printable): string {
  return `${filteredJson(
    {
      mode: report.mode,
      ok: runSucceeded(report),
      durationMs: report.durationMs,
      phases: report.phases,
      refused: report.refused.map(errorJson),
      hosts: report.hosts.map((h) => ({
        host: h.host,
        address: h.address,
        status: h.status,
        system: h.system ?? null,
        error: errorJson(h.error),
        roundTrips: h.stats ?? null,
      })),
      results: report.results.map((r) => ({
        phase: r.phase,
        host: r.host,
        status: r.status,
        changes: r.changes.map(changeJson),
        restarts: r.restarts,
        notApplied: r.notApplied.map(changeJson),
        text: changeLines(r, report.mode === 'plan'),
        error: errorJson(r.error),
        durationMs: r.durationMs,
      })),
    },
    filter,
    2,
  )}\n`;
}

function changeJson(c: Change) {
  return { resource: c.resourceId, summary: c.summary, detail: c.detail ?? [], warning: c.warning ?? null, restarts: c.restarts };
}

function errorJson(err: KubestrapError | undefined) {
  if (!err) return null;
  return {
    kind: err.kind,
    where: err.where(),
    message: err.message,
    hint: err.hint ?? null,
    ...(err instanceof HostError ? { details: err.details } : {}),
  };
}
