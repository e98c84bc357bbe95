import type { Writable } from 'node:stream';
import type { RunObserver } from '../../engine/runner.js';

/** One line per host and stage as each finishes: for logs, CI and pipes. */
export function plainProgress(out: Writable): RunObserver {
  const began = new Map<string, number>();
  return {
    started: (stage, host) => began.set(`${stage}/${host}`, Date.now()),
    finished: (stage, host, status, report) => {
      const ms = Date.now() - (began.get(`${stage}/${host}`) ?? Date.now());
      const count = report ? report.changes.length + report.restarts.length : 0;
      const what = status === 'changed' ? `${status} (${count})` : status;
      out.write(`[${stage}] ${host}: ${what} ${(ms / 1000).toFixed(1)}s\n`);
    },
  };
}
