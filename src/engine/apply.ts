import { HostError, KubestrapError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { shq } from '../ssh/quote.js';
import { ChangedSourceError, changedSourceFailure, prepareUpload, runWithUpload, uploadFailure, uploadTimeoutMs } from '../transfer/upload.js';
import { batchScript, parseBatch } from './batch.js';
import type { ApplyStep, Change } from './change.js';
import { verb, type Restart, type RestartPlan } from './handlers.js';
import { recordUploadsScript, type RecordedUpload } from './host-record.js';
import { CHECK_MARKER, JOURNAL_MARKER, NOT_READY_MARKER, startTimeoutSec, startWithJournal } from './kinds/service.js';
import { clearPendingScript, recordPendingScript } from './pending-restarts.js';

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
  /** The services it restarts. */
  restarts?: string[];
  /** Shown when the step fails. */
  label: string;
  /** How long a step that belongs to no change may take (a restart's readiness wait), when more than a command's usual limit. */
  timeoutSec?: number;
}

/**
 * Applies a host's changes in the phase's order, then restarts what their inputs require:
 * prepare-stage changes, one `daemon-reload` if a unit file changed, service changes, restarts.
 * Consecutive scripts and uploads travel in one command, the files on its stdin; rendered files go
 * over SFTP. The first failure stops the host.
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
  const restarted = done.flatMap((o) => o.restarts ?? []);
  return { applied, restarted, ...(failed ? { failure: failed.error } : {}) };
}

function operations(changes: readonly Change[], { restarts, deferred, settled }: RestartPlan): Op[] {
  const ops: Op[] = [];
  const owing = [...restarts, ...deferred];
  const owed = [...new Set(changes.flatMap((c) => c.restarts))].filter((s) => owing.some((r) => r.service === s));
  if (owed.length) ops.push({ step: { type: 'script', script: recordPendingScript(owed) }, label: 'record pending restarts' });
  const stepsOf = (stage: Change['stage']) => changes.filter((c) => c.stage === stage).flatMap((c) => c.steps.map((step) => ({ step, change: c, label: c.summary })));

  ops.push(...stepsOf('prepare'));
  if (changes.some((c) => c.reloadsSystemd)) ops.push({ step: { type: 'script', script: 'systemctl daemon-reload' }, label: 'reload systemd' });
  ops.push(...stepsOf('services'));
  const now = restarts.filter((r) => !r.rolling);
  for (const group of restartSteps(now)) ops.push(restartOp(group));
  const cleared = [...now.map((r) => r.service), ...settled];
  if (cleared.length) ops.push({ step: { type: 'script', script: clearPendingScript(cleared) }, label: 'clear pending restarts' });
  return ops;
}

/** One step per managed restart; consecutive restarts of services the phase does not manage share one. */
function restartSteps(restarts: readonly Restart[]): Restart[][] {
  return runsOf(restarts, (run, r) => !run[0]!.managed && !r.managed);
}

function restartOp(group: readonly Restart[]): Op {
  const services = group.map((r) => r.service);
  const waits = group.reduce((sum, r) => sum + (startTimeoutSec(r.ready) ?? 0), 0);
  return { step: { type: 'script', script: restartScript(group) }, restarts: services, label: group.map((r) => `${verb(r)} ${r.service}`).join(', '), ...(waits ? { timeoutSec: waits } : {}) };
}

function restartScript(group: readonly Restart[]): string {
  const first = group[0]!;
  if (first.managed) return startWithJournal(verb(first), first.service, first.ready);
  // Services this phase does not manage restart only if they run: they may not even be installed
  // yet (certificates come before the units that read them). One systemctl call asks about them
  // all (it prints one state per unit, in order, whether the unit exists or not): each call costs
  // a process start and a D-Bus round trip.
  return [
    `set -- $(systemctl is-active -- ${group.map((r) => shq(r.service)).join(' ')} 2>/dev/null)`,
    ...group.map((r) => `if [ "\${1-}" = active ]; then\n${startWithJournal(verb(r), r.service, r.ready)}\nfi\n[ $# -eq 0 ] || shift`),
  ].join('\n');
}

/** One rolling restart on one host, its readiness wait and the debt cleared, in one command. */
export async function restartOne(host: RemoteHost, r: Restart): Promise<HostError | undefined> {
  const ops: Op[] = [restartOp([r]), { step: { type: 'script', script: clearPendingScript([r.service]) }, label: 'clear pending restarts' }];
  return (await execute(host, ops))?.error;
}

/** Runs the ops, batching consecutive scripts and uploads; returns the op that failed, if any. */
async function execute(host: RemoteHost, ops: Op[]): Promise<{ op: Op; error: HostError } | undefined> {
  for (const batch of batches(ops)) {
    const failed = batch[0]!.step.type === 'put' ? await put(host, batch[0]!) : await runBatch(host, batch);
    if (failed) return failed;
  }
  return undefined;
}

/**
 * Runs of consecutive ops that travel in one command (scripts and uploads); a put alone. An upload
 * step reads the command's input to its end, so a command carries one: files that come after a
 * script, or that travel with another codec, start the next command.
 */
function batches(ops: readonly Op[]): Op[][] {
  return runsOf(ops, (run, op) => {
    if (run[0]!.step.type === 'put' || op.step.type === 'put') return false;
    if (op.step.type !== 'upload' || !run.some((o) => o.step.type === 'upload')) return true;
    return sameStream(run[run.length - 1]!, op);
  });
}

/** A batch's steps on the host: each script alone, consecutive uploads of one codec together (installed all or none). */
function steps(batch: readonly Op[]): Op[][] {
  return runsOf(batch, (run, op) => sameStream(run[run.length - 1]!, op));
}

/** Both ops are uploads that one stream can carry. */
function sameStream(a: Op, b: Op): boolean {
  return a.step.type === 'upload' && b.step.type === 'upload' && a.step.upload.transfer.codec === b.step.upload.transfer.codec;
}

/** `items` cut into runs of consecutive items; an item joins the run before it when `joins(that run, item)`. */
function runsOf<T>(items: readonly T[], joins: (run: readonly T[], item: T) => boolean): T[][] {
  const out: T[][] = [];
  for (const item of items) {
    const last = out[out.length - 1];
    if (last && joins(last, item)) last.push(item);
    else out.push([item]);
  }
  return out;
}

/** The files of an upload step; undefined for a script step. */
function uploadsOf(step: readonly Op[]): RecordedUpload[] | undefined {
  return step[0]!.step.type === 'upload' ? step.map((o) => (o.step as Extract<ApplyStep, { type: 'upload' }>).upload) : undefined;
}

/**
 * A batch in one command. The files of its upload step travel on the command's stdin, and only
 * that step reads it; a step that fails ends the command, unread input and all.
 */
async function runBatch(host: RemoteHost, batch: Op[]): Promise<{ op: Op; error: HostError } | undefined> {
  const parts = steps(batch);
  // At most one (see batches).
  const uploadStep = parts.find((p) => uploadsOf(p));
  const upload = uploadStep && prepareUpload(uploadsOf(uploadStep)!, recordUploadsScript);
  const script = batchScript(parts.map((p) => (p === uploadStep ? { script: upload!.script, readsInput: true } : (p[0]!.step as { script: string }).script)));
  // Slow steps (package installs, starts that wait for readiness) bring their own time, and files
  // theirs; the rest of the batch runs within it.
  const changes = [...new Set(batch.map((o) => o.change).filter((c) => c?.timeoutSec))];
  const slow = (changes.reduce((sum, c) => sum + c!.timeoutSec!, 0) + batch.reduce((sum, o) => sum + (o.timeoutSec ?? 0), 0)) * 1000;
  const timeoutMs = slow + (upload ? uploadTimeoutMs(upload.uploads) : 0);
  let result: Awaited<ReturnType<typeof runWithUpload>>;
  try {
    const opts = timeoutMs ? { timeoutMs } : {};
    result = upload ? await runWithUpload(host, script, upload, opts) : await host.run(script, opts);
  } catch (err) {
    // Which of the command's steps was running is unknown: name them all, not only the first.
    return { op: batch[0]!, error: asHostError(host.name, { ...batch[0]!, label: batchLabel(batch) }, err) };
  }
  // The host saw a stream cut short; the reason is here.
  if (result instanceof ChangedSourceError) return { op: uploadStep![0]!, error: changedSourceFailure(host.name, result) };
  const results = parseBatch(result.stdout);
  for (const [i, part] of parts.entries()) {
    const step = results.find((s) => s.index === i);
    if (step && step.exitCode === 0) continue;
    const exitCode = step && step.exitCode >= 0 ? step.exitCode : result.code;
    const output = step?.output ?? result.stderr;
    // Nothing of a failed upload step was installed: it fails as a whole, naming the file that did.
    return { op: part[0]!, error: part === uploadStep ? uploadFailure(host.name, upload!, exitCode, output) : scriptFailure(host.name, part[0]!, exitCode, output) };
  }
  return undefined;
}

/** The steps one command carried, for a failure of the command as a whole. */
function batchLabel(batch: readonly Op[]): string {
  return batch.length === 1 ? batch[0]!.label : `${batch.map((o) => o.label).join('; ')} (${batch.length} steps in one command)`;
}

function scriptFailure(host: string, op: Op, exitCode: number, text: string): HostError {
  const { output, journal, notReady } = splitJournal(text);
  // A service that did not become ready: the command, exit code and output shown are its readiness check's.
  const shown = notReady?.check ?? { command: (op.step as { script: string }).script.split('\n')[0]!, exitCode, output };
  return new HostError(
    host,
    notReady?.message ?? `${op.label}: failed`,
    {
      resource: op.change?.resourceId ?? op.label,
      command: shown.command,
      exitCode: shown.exitCode,
      ...(shown.output.trim() ? { stderrTail: tail(shown.output) } : {}),
      ...(journal ? { journalTail: journal } : {}),
    },
    op.change?.failureHint,
  );
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

interface NotReady {
  /** The unit and why kubestrap stopped waiting for it. */
  message: string;
  /** The readiness check, its last exit code and what it last printed. */
  check?: { command: string; exitCode: number; output: string };
}

/** A failed start's output: what it printed, the unit's journal, and why it is not ready (with its check) if it is not. */
function splitJournal(text: string): { output: string; journal?: string; notReady?: NotReady } {
  const ready = new RegExp(`^${NOT_READY_MARKER} (.*)$`, 'm').exec(text);
  const head = ready ? text.slice(0, ready.index) : text;
  // The journal comes last: after the not-ready line and its check, when there is one.
  const rest = ready ? text.slice(ready.index + ready[0].length) : head;
  const at = rest.indexOf(JOURNAL_MARKER);
  const journal = at < 0 ? {} : { journal: tail(rest.slice(at + JOURNAL_MARKER.length)) };
  if (!ready) return { output: at < 0 ? head : head.slice(0, at), ...journal };
  const check = parseCheck(at < 0 ? rest : rest.slice(0, at));
  return { output: head, ...journal, notReady: { message: ready[1]!, ...(check ? { check } : {}) } };
}

/** `@@kubestrap-check RC COMMAND`, then the check's last output indented by two spaces. */
function parseCheck(text: string): NotReady['check'] {
  const m = new RegExp(`^${CHECK_MARKER} (\\d+) (.*)$`, 'm').exec(text);
  if (!m) return undefined;
  const output = text
    .slice(m.index + m[0].length)
    .split('\n')
    .filter((l) => l.startsWith('  '))
    .map((l) => l.slice(2))
    .join('\n');
  return { command: m[2]!, exitCode: Number(m[1]), output };
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
