import type { StageTime } from '../../engine/report.js';

/**
 * The last line a person sees on the terminal after a run (k0sctl users expect it): how it ended,
 * the total time and each stage's wall-clock time, e.g.
 * `done in 41.2s — connect 3.1s · os 0.4s · pki 0.2s · artifacts 12.0s`.
 * One function for every command that times its stages, so they all read the same.
 */
export function closingLine(verdict: 'done' | 'failed' | 'refused', totalMs: number, stages: readonly StageTime[]): string {
  const head = `${verdict === 'done' ? 'done in' : `${verdict} after`} ${seconds(totalMs)}`;
  return stages.length ? `${head} — ${stages.map((s) => `${s.name} ${seconds(s.durationMs)}`).join(' · ')}` : head;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
