import { Listr, type ListrDefaultRenderer, type ListrSimpleRenderer, type ListrTaskWrapper } from 'listr2';
import type { HostStatus, PhaseHostReport } from '../../engine/report.js';
import type { RunObserver, StageName } from '../../engine/runner.js';

type Row = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

interface HostOutcome {
  status: HostStatus;
  report?: PhaseHostReport;
}

/**
 * Live rows on a terminal: one group per stage, one row per host, updated as the engine reports.
 * The engine does not know listr2; this view only listens.
 */
export class ListrProgress implements RunObserver {
  private readonly stageHosts = new Map<StageName, Deferred<string[]>>();
  private readonly outcomes = new Map<string, Deferred<HostOutcome>>();
  private readonly rows = new Map<StageName, Row>();
  private readonly notes = new Map<StageName, string>();
  private readonly listr: Listr<unknown, 'default', 'simple'>;
  private readonly done: Promise<void>;

  constructor(stages: readonly { name: StageName; title: string }[]) {
    for (const s of stages) this.stageHosts.set(s.name, deferred());
    this.listr = new Listr<unknown, 'default', 'simple'>(
      stages.map((s) => ({ title: s.title, task: (_ctx: unknown, task: Row) => this.stageTask(s.name, task) })),
      { concurrent: false, exitOnError: false, rendererOptions: { collapseSubtasks: false } },
    );
    this.done = this.listr.run().then(
      () => undefined,
      () => undefined,
    );
  }

  stageStarted(stage: StageName, hosts: string[]): void {
    for (const h of hosts) this.outcome(stage, h);
    this.stageHosts.get(stage)?.resolve(hosts);
  }

  finished(stage: StageName, host: string, status: HostStatus, report?: PhaseHostReport): void {
    this.outcome(stage, host).resolve({ status, ...(report ? { report } : {}) });
  }

  /** A line of text under a stage while it runs, e.g. download progress during `connect`. */
  note(stage: StageName, text: string): void {
    this.notes.set(stage, text);
    const row = this.rows.get(stage);
    if (row) row.output = text;
  }

  /** Waits for the view to draw its last state; stages that never ran show as skipped. */
  async close(): Promise<void> {
    for (const d of this.stageHosts.values()) d.resolve([]);
    await this.done;
  }

  private outcome(stage: StageName, host: string): Deferred<HostOutcome> {
    const key = `${stage}/${host}`;
    let d = this.outcomes.get(key);
    if (!d) this.outcomes.set(key, (d = deferred()));
    return d;
  }

  private async stageTask(stage: StageName, task: Row) {
    this.rows.set(stage, task);
    const note = this.notes.get(stage);
    if (note) task.output = note;
    const hosts = await this.stageHosts.get(stage)!.promise;
    if (hosts.length === 0) {
      task.skip('no hosts');
      return undefined;
    }
    if (hosts.length > ROWS_PER_HOST_UP_TO) return this.summaryRow(stage, hosts, task);
    return task.newListr(
      hosts.map((host) => ({
        title: host,
        task: async (_ctx: unknown, row: Row) => {
          const { status, report } = await this.outcome(stage, host).promise;
          const count = report ? report.changes.length + report.restarts.length : 0;
          row.title = `${host}: ${status}${status === 'changed' ? ` (${count})` : ''}`;
          if (status === 'failed' || status === 'unreachable') throw new Error(`${host}: ${status}`);
        },
      })),
      { concurrent: true, exitOnError: false },
    );
  }

  /** One line for the stage's hosts, counted by status as they finish; fails when any host did. */
  private async summaryRow(stage: StageName, hosts: readonly string[], task: Row): Promise<void> {
    const counts = new Map<HostStatus, number>();
    await Promise.all(
      hosts.map(async (host) => {
        const { status } = await this.outcome(stage, host).promise;
        counts.set(status, (counts.get(status) ?? 0) + 1);
        task.output = hostCountLine(hosts.length, counts);
      }),
    );
    task.title = `${task.title}: ${hostCountLine(hosts.length, counts)}`;
    if ((counts.get('failed') ?? 0) + (counts.get('unreachable') ?? 0) > 0) throw new Error(hostCountLine(hosts.length, counts));
  }
}

/**
 * Above this many hosts a stage is one line of counts, not a row per host: a terminal shows a few
 * dozen rows, and listr2 redraws every row on each update, so 1000 rows cost a redraw of 1000 rows
 * per host that finishes (the report after the run names each host anyway).
 */
export const ROWS_PER_HOST_UP_TO = 30;

/** `412/1000 hosts done: 400 ok, 10 changed, 2 failed`. */
export function hostCountLine(total: number, counts: ReadonlyMap<HostStatus, number>): string {
  const done = [...counts.values()].reduce((a, b) => a + b, 0);
  return `${done}/${total} hosts done${done ? `: ${[...counts].map(([status, n]) => `${n} ${status}`).join(', ')}` : ''}`;
}
