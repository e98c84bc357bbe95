import { createTwoFilesPatch } from 'diff';
import type { Change } from '../../engine/change.js';
import { verb, type Restart } from '../../engine/handlers.js';
import type { PhaseHostReport } from '../../engine/report.js';

/** Lines of a new file shown in a plan before it is cut short. */
const NEW_FILE_LINES = 60;

/**
 * The lines printed for one host in one phase: each change, each restart, and for a plan the diff
 * of every file (an apply report lists what was done; the diffs were the plan's to show).
 */
export function changeLines(r: PhaseHostReport, withDiffs: boolean): string[] {
  return [...r.changes.flatMap((c) => describeChange(c, withDiffs ? r.currentContent : undefined)), ...r.restarts.map(describeRestart)];
}

function describeChange(c: Change, current: Map<string, string | null> | undefined): string[] {
  const creates = c.file?.currentSha256 === null;
  const lines = [`  ${creates ? '+' : '~'} ${c.summary}`];
  if (c.warning) lines.push(`      ! ${c.warning}`);
  lines.push(...(c.detail ?? []).map((l) => `      ${l}`));
  if (c.file && current) lines.push(...fileDiff(c, current).map((l) => `      ${l}`));
  return lines;
}

function fileDiff(c: Change, current: Map<string, string | null>): string[] {
  const file = c.file!;
  if (file.secret) return ['(content hidden: secret)'];
  const desired = typeof file.desired === 'string' ? file.desired : file.desired.toString('utf8');
  if (file.currentSha256 === null) {
    const lines = desired.replace(/\n$/, '').split('\n');
    const shown = lines.slice(0, NEW_FILE_LINES).map((l) => `+${l}`);
    return lines.length > NEW_FILE_LINES ? [...shown, `... ${lines.length - NEW_FILE_LINES} more lines`] : shown;
  }
  const before = current.get(file.path);
  if (before === undefined || before === null) return ['(current content not shown)'];
  return createTwoFilesPatch(file.path, file.path, before, desired, 'on the host', 'desired', { context: 3 })
    .split('\n')
    .filter((l) => !/^(=+|Index: .*)$/.test(l) && l !== '\\ No newline at end of file')
    .filter((l, i, all) => !(l === '' && i === all.length - 1));
}

function describeRestart(r: Restart): string {
  const how = r.deferredTo
    ? ` (in phase ${r.deferredTo})`
    : [!r.managed && ' (if running)', r.rolling && ' (one host at a time)', r.ready && ` (then wait until it ${r.ready.description})`].filter(Boolean).join('');
  return `  ↻ ${verb(r)} ${r.service}${how} because: ${r.because.join(', ')}`;
}
