import { HostError, KubestrapError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { shq } from '../ssh/quote.js';
import { batchScript, parseBatch } from './batch.js';
import type { ApplyStep, Change } from './change.js';
import type { Restart, RestartPlan } from './handlers.js';
import { JOURNAL_MARKER, NOT_READY_MARKER, startWithJournal } from './kinds/service.js';
import { clearPendingScript, recordPendingScript } from './pending-restarts.js';
import { uploadFiles } from './upload.js';

export interface ApplyOutcome {
  /** Changes applied completely. */
  applied: Change[];
  restarted: string[];
  /** The first failure; nothing after it ran. */
  failure?: HostError;
}

/** One step and what it belongs to, for reporting. */
interface Op {
  step: ApplyStep;
  change?: Change;
  restart?: string;
  /** Shown when the step fails. */
  label: string;
}

/**
 * Applies a host's changes in the phase's order, then restarts what their inputs require:
 * prepare-stage changes, one `daemon-reload` if a unit file changed, service changes, restarts.
 * Consecutive scripts travel in one command, and so do consecutive uploads; files go over SFTP. The
 * first failure stops the host.
 * Rolling and deferred restarts are only recorded as owed here: the runner does rolling ones host
 * by host afterwards, and a later phase does deferred ones.
 */
export async function applyChanges(host: RemoteHost, changes: readonly Change[], plan: RestartPlan): Promise<ApplyOutcome> {
  const ops = operations(changes, plan);
  const failed = await execute(host, ops);
  const failedIndex = failed ? ops.indexOf(failed.op) : ops.length;
  const done = ops.slice(0, failedIndex);
  const applied = changes.filter((c) => {
    const mine = ops.filter((o) => o.change === c);
    return mine.length > 0 && mine.every((o) => done.includes(o));
  });
  const restarted = done.filter((o) => o.restart).map((o) => o.restart!);
  return { applied, restarted, ...(failed ? { failure: failed.error } : {}) };
}

function operations(changes: readonly Change[], { restarts, deferred, settled }: RestartPlan): Op[] {
  const ops: Op[] = [];
  const owing = [...restarts, ...deferred];
  const owed = [...new Set(changes.flatMap((c) => c.restarts))].filter((s) => owing.some((r) => r.service === s));
  if (owed.length) ops.push({ step: { type: 'script', script: recordPendingScript(owed) }, label: 'record pending restarts' });
  const stepsOf = (stage: Change['stage']) =>
    changes.filter((c) => c.stage === stage).flatMap((c) => c.steps.map((step) => ({ step, change: c, label: c.summary })));

  ops.push(...stepsOf('prepare'));
  if (changes.some((c) => c.reloadsSystemd)) ops.push({ step: { type: 'script', script: 'systemctl daemon-reload' }, label: 'reload systemd' });
  ops.push(...stepsOf('services'));
  const now = restarts.filter((r) => !r.rolling);
  for (const r of now) ops.push({ step: { type: 'script', script: restartScript(r) }, restart: r.service, label: `restart ${r.service}` });
  const cleared = [...now.map((r) => r.service), ...settled];
  if (cleared.length) ops.push({ step: { type: 'script', script: clearPendingScript(cleared) }, label: 'clear pending restarts' });
  return ops;
}

function restartScript(r: Restart): string {
  if (r.managed) return startWithJournal('restart', r.service, r.ready);
  // A service this phase does not manage restarts only if it runs: it may not even be installed yet
  // (certificates come before the units that read them).
  return `if systemctl is-active -q -- ${shq(r.service)}; then\n${startWithJournal('restart', r.service, r.ready)}\nfi`;
}

/** One rolling restart on one host, its readiness wait and the debt cleared, in one command. */
export async function restartOne(host: RemoteHost, r: Restart): Promise<HostError | undefined> {
  const ops: Op[] = [
    { step: { type: 'script', script: restartScript(r) }, restart: r.service, label: `restart ${r.service}` },
    { step: { type: 'script', script: clearPendingScript([r.service]) }, label: 'clear pending restarts' },
  ];
  return (await execute(host, ops))?.error;
}

/** Runs the ops, batching consecutive scripts and consecutive uploads; returns the op that failed, if any. */
async function execute(host: RemoteHost, ops: Op[]): Promise<{ op: Op; error: HostError } | undefined> {
  for (const batch of batches(ops)) {
    const first = batch[0]!;
    const failed = first.step.type === 'script' ? await runBatch(host, batch) : first.step.type === 'upload' ? await upload(host, batch) : await put(host, first);
    if (failed) return failed;
  }
  return undefined;
}

/** Runs of consecutive ops that travel together: scripts with scripts, uploads with uploads; a put alone. */
function batches(ops: readonly Op[]): Op[][] {
  const out: Op[][] = [];
  for (const op of ops) {
    const last = out[out.length - 1];
    const joins = last !== undefined && op.step.type !== 'put' && last[0]!.step.type === op.step.type;
    if (joins) last.push(op);
    else out.push([op]);
  }
  return out;
}

/** All of a batch's files in one command: none is installed unless all arrived, so a failure is the batch's first op. */
async function upload(host: RemoteHost, batch: Op[]): Promise<{ op: Op; error: HostError } | undefined> {
  try {
    await uploadFiles(host, batch.map((o) => (o.step as Extract<ApplyStep, { type: 'upload' }>).upload));
    return undefined;
  } catch (err) {
    return { op: batch[0]!, error: asHostError(host.name, batch[0]!, err) };
  }
}

async function runBatch(host: RemoteHost, batch: Op[]): Promise<{ op: Op; error: HostError } | undefined> {
  const scripts = batch.map((o) => (o.step as { script: string }).script);
  // Slow changes (package installs) bring their own time; the rest of the batch runs within it.
  const slow = [...new Set(batch.map((o) => o.change).filter((c) => c?.timeoutSec))].reduce((sum, c) => sum + c!.timeoutSec!, 0);
  let result;
  try {
    result = await host.run(batchScript(scripts), slow ? { timeoutMs: slow * 1000 } : {});
  } catch (err) {
    return { op: batch[0]!, error: asHostError(host.name, batch[0]!, err) };
  }
  const steps = parseBatch(result.stdout);
  for (const [i, op] of batch.entries()) {
    const step = steps.find((s) => s.index === i);
    if (step && step.exitCode === 0) continue;
    const { output, journal, notReady } = splitJournal(step?.output ?? result.stderr);
    const exitCode = step && step.exitCode >= 0 ? step.exitCode : result.code;
    return {
      op,
      error: new HostError(
        host.name,
        notReady ?? `${op.label}: failed`,
        {
          resource: op.change?.resourceId ?? op.label,
          command: scripts[i]!.split('\n')[0]!,
          exitCode,
          ...(output.trim() ? { stderrTail: tail(output) } : {}),
          ...(journal ? { journalTail: journal } : {}),
        },
        op.change?.failureHint,
      ),
    };
  }
  return undefined;
}

async function put(host: RemoteHost, op: Op): Promise<{ op: Op; error: HostError } | undefined> {
  const step = op.step as Extract<ApplyStep, { type: 'put' }>;
  try {
    await host.putFile(step.path, step.content, { mode: step.mode, owner: step.owner, group: step.group, currentSha256: step.currentSha256 });
    return undefined;
  } catch (err) {
    return { op, error: asHostError(host.name, op, err) };
  }
}

function asHostError(host: string, op: Op, err: unknown): HostError {
  if (err instanceof HostError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof KubestrapError ? err.hint : op.change?.failureHint;
  return new HostError(host, `${op.label}: ${message}`, { resource: op.change?.resourceId ?? op.label }, hint);
}

/** A failed start's output: what it printed, the unit's journal, and the not-ready line if it timed out. */
function splitJournal(text: string): { output: string; journal?: string; notReady?: string } {
  const ready = new RegExp(`^${NOT_READY_MARKER} (.*)$`, 'm').exec(text);
  const rest = ready ? text.replace(ready[0], '') : text;
  const at = rest.indexOf(JOURNAL_MARKER);
  const parts = at < 0 ? { output: rest } : { output: rest.slice(0, at), journal: tail(rest.slice(at + JOURNAL_MARKER.length)) };
  return ready ? { ...parts, notReady: ready[1]! } : parts;
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
