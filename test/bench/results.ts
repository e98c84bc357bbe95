/**
 * The bench's figures next to the previous version's (issue 25 part 5): `test/bench/results.json`
 * holds the figures of the last `npm run bench -- --save`, committed with the code they measured, so
 * a later run prints each of its figures with that one and the change, and a regression shows.
 * Figures are flat: a name (`sim 1000 hosts, no-op: CPU (s)`) and a number; a run that measures only
 * some of them (`--only startup`) saves those and keeps the others.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

export const RESULTS_FILE = join(process.cwd(), 'test/bench/results.json');

export interface Results {
  savedAt: string;
  commit: string;
  /** Where they were taken: the figures mean little without it (load is the 1-minute average at the end). */
  machine: { cores: number; load: number };
  figures: Record<string, number>;
}

/** A figure's target, where the issue gives one: below `max`. */
export const TARGETS: Record<string, number> = {
  'start-up: `bootstrap --help` (s)': 0.15,
  'start-up: first SSH packet of `apply` (s)': 0.25,
  'sim 1000 hosts, no-op: wall (s)': 15,
  'sim 1000 hosts, no-op: CPU (s)': 10,
  'sim 1000 hosts, no-op: peak RSS (MB)': 1024,
  'sim 1000 hosts, add one (--limit): wall (s)': 10,
};

export function readResults(file = RESULTS_FILE): Results | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Results) : undefined;
}

/** This run's figures over the previous file's (those not measured now are kept). */
export function saveResults(figures: Record<string, number>, previous: Results | undefined, file = RESULTS_FILE): void {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const results: Results = {
    savedAt: new Date().toISOString(),
    commit,
    machine: { cores: cpus().length, load: Number(loadavg()[0]!.toFixed(1)) },
    figures: { ...(previous?.figures ?? {}), ...figures },
  };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

/** One line per figure: now, the previous one and the change, the target and whether it is met. */
export function comparisonLines(figures: Record<string, number>, previous: Results | undefined): string[] {
  const names = Object.keys(figures);
  const width = Math.max(...names.map((n) => n.length));
  const header = previous
    ? `figures (previous: ${previous.commit}, ${previous.savedAt.slice(0, 16)}, ${previous.machine.cores} cores, load ${previous.machine.load}; now: load ${loadavg()[0]!.toFixed(1)})`
    : `figures (no previous results in ${RESULTS_FILE}; now: load ${loadavg()[0]!.toFixed(1)})`;
  return [header, ...names.map((name) => `  ${name.padEnd(width)}  ${figureText(figures[name]!, previous?.figures[name], TARGETS[name])}`)];
}

export function figureText(now: number, before: number | undefined, target: number | undefined): string {
  const digits = now >= 100 ? 0 : now >= 10 ? 1 : 2;
  const was = before === undefined ? 'new' : `was ${before.toFixed(digits)}, ${change(now, before)}`;
  const goal = target === undefined ? '' : `  target < ${target}: ${now < target ? 'met' : 'MISSED'}`;
  return `${now.toFixed(digits).padStart(7)}  (${was})${goal}`;
}

function change(now: number, before: number): string {
  if (before === 0) return now === 0 ? '±0%' : 'from 0';
  const pct = ((now - before) / before) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}%`;
}
