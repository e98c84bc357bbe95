import { runSucceeded, type HostReport, type PhaseHostReport, type RunReport } from '../../engine/report.js';
import type { UpgradeStep } from '../../phases/upgrade-view.js';
import { upgradeLines } from './upgrade-text.js';
import { closingLine } from './closing-line.js';
import { PHASES } from '../../phases/index.js';
import { printable, type TextFilter } from '../../printable.js';
import { changeLines } from './changes-text.js';

/**
 * Plans and apply summaries for people: each host with what it runs (or why it was not reached);
 * per phase, per host, what differs (or differed) and how it ended; failures with their command,
 * exit code and output; a last line that counts. Hosts' text (diffs, output, names they report) is
 * in it, so all of it passes `filter` (control characters escaped, and secrets redacted when the
 * caller knows them).
 */
export function formatReport(report: RunReport, filter: TextFilter = printable, upgrade: readonly UpgradeStep[] = []): string {
  const out: string[] = [];
  if (report.refused.length) {
    out.push(`Refused before any change on any host (${report.refused.length} problem${report.refused.length === 1 ? '' : 's'}):`);
    for (const problem of report.refused) out.push(...indent(problem.format()));
  }
  out.push('== hosts ==');
  for (const host of report.hosts) {
    if (host.status === 'skipped') continue;
    const stopped = host.status === 'unreachable' || (host.status === 'failed' && !report.results.some((r) => r.host === host.host));
    if (stopped) out.push(`${host.host} (${host.address}): ${host.status}`, ...indent(host.error?.format() ?? ''));
    else out.push(`${host.host} (${host.address}): ${host.system ?? host.status}`);
  }
  out.push(...notContacted(report));
  out.push(...upgradeLines(upgrade));
  for (const phase of report.phases) {
    const results = report.results.filter((r) => r.phase === phase);
    if (results.length === 0) continue;
    out.push(`== ${phase}: ${PHASES.find((p) => p.name === phase)?.title ?? phase} ==`);
    for (const r of results) out.push(...hostBlock(report, r));
  }
  out.push(totals(report));
  return `${filter(out.join('\n'))}\n`;
}

/** The hosts a run limited to others did not need (--limit), as one line: at 1000 hosts, not 999 rows. */
function notContacted(report: RunReport): string[] {
  const names = report.hosts.filter((h) => h.status === 'skipped').map((h) => h.host);
  if (names.length === 0) return [];
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  return [`not contacted (--limit: no phase needs them): ${shown}`];
}

function hostBlock(report: RunReport, r: PhaseHostReport): string[] {
  const address = report.hosts.find((h) => h.host === r.host)?.address ?? '';
  const head = `${r.host} (${address})`;
  const count = r.changes.length + r.restarts.length;
  if (r.status === 'ok') return [`${head}: ${report.mode === 'plan' ? 'no changes' : 'ok, nothing to change'}`];
  if (r.status === 'failed') {
    const lines = [`${head}: FAILED${r.changes.length ? ` after ${r.changes.length} change(s)` : ''}`, ...changeLines(r, report.mode === 'plan'), ...indent(r.error?.format() ?? '')];
    if (r.notApplied.length) lines.push(`  not applied: ${r.notApplied.map((c) => c.summary).join('; ')}`);
    return lines;
  }
  const verb = report.mode === 'plan' ? 'to change' : 'changed';
  return [`${head}: ${count} ${verb}`, ...changeLines(r, report.mode === 'plan')];
}

function totals(report: RunReport): string {
  const changes = report.results.reduce((n, r) => n + r.changes.length, 0);
  const restarts = report.results.reduce((n, r) => n + r.restarts.length, 0);
  const by = (status: HostReport['status']) => report.hosts.filter((h) => h.status === status).length;
  const touched = new Set(report.results.filter((r) => r.changes.length + r.restarts.length > 0).map((r) => r.host)).size;
  const parts = [`${changes} change(s) and ${restarts} restart(s) ${report.mode === 'plan' ? 'planned' : 'applied'} on ${touched} host(s)`, `${by('ok')} up to date`];
  if (by('failed')) parts.push(`${by('failed')} failed`);
  if (by('unreachable')) parts.push(`${by('unreachable')} unreachable`);
  if (by('skipped')) parts.push(`${by('skipped')} not contacted`);
  const verdict = report.refused.length ? ' — REFUSED, nothing changed' : runSucceeded(report) ? '' : ' — FAILED';
  return `${report.mode === 'plan' ? 'Plan' : 'Apply'}: ${parts.join(', ')} (${(report.durationMs / 1000).toFixed(1)} s)${verdict}`;
}

function indent(text: string): string[] {
  return text ? text.split('\n').map((l) => `  ${l}`) : [];
}

/** The closing line of a plan, apply, init or reset: verdict, total and per-stage times. */
export function runClosingLine(report: RunReport): string {
  const verdict = report.refused.length ? 'refused' : runSucceeded(report) ? 'done' : 'failed';
  return closingLine(verdict, report.durationMs, report.stages);
}
