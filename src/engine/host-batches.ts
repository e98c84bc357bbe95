import { ClusterApiError, HostError, KubestrapError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import type { Change } from './change.js';
import { channelOf, type HostChannel } from './host-channel.js';
import type { HostFacts } from './facts.js';
import type { CommandResource } from './resource.js';
import type { TargetHost } from './target.js';

/**
 * A phase whose changes take a host out of service for a while (a node whose kubelet restarts on a
 * new binary) says so with batches: the engine then applies it to `size` hosts at a time instead of
 * all at once, and around the changes of each host that has any, runs `before` (take it out of
 * service: drain a node) and `after` (put it back and wait until it serves: uncordon, Ready), each
 * on another host that can do it (a master with the cluster's admin credentials). A host without
 * changes that stop or restart a service is not taken out of service. The engine knows nothing
 * of nodes: the phase gives the scripts (and puts back, as a cluster action, what a run that was
 * stopped between the two steps left out).
 *
 * Round trips: none for a no-op host (its probe rode in the run's one probe); for a changed host one
 * command for `before`, the host's own apply, one command for `after`.
 */
export interface HostBatches<H extends TargetHost> {
  /** Hosts taken out of service at once (`--max-unavailable`). */
  size: number;
  /** Hosts that may run the steps, in order of preference: the first that answered and has not failed. */
  candidates: readonly string[];
  before: AroundStep<H>;
  after: AroundStep<H>;
  /** Whether the host serves now (a node registered by an earlier run): a host that does not yet is changed with the others, all at once, and not taken out. */
  serving(host: H, facts: HostFacts): boolean;
}

interface AroundStepBase<H extends TargetHost> {
  /** For reports: `drain node w1 (PodDisruptionBudgets respected, 300 s at most)`. */
  describe(target: H): string;
  /** How long a script may take (a drain waits for evictions), in seconds; an `apply` keeps its own time limits. */
  timeoutSec: number;
  failureHint?: string;
}

/**
 * What a step does: `script` runs on the chosen candidate, about `target`; or `apply` is done by the
 * controller through the chosen candidate's channels (an API it serves), as a cluster action's
 * `apply`, and starts no process there. A throw fails the step, saying why.
 */
export type AroundStep<H extends TargetHost> = AroundStepBase<H> &
  ({ script(target: H, on: H): string; apply?: undefined } | { script?: undefined; apply(channel: HostChannel, target: H, on: H): Promise<void> });

/** A host of the run as the batches see it: its spec, and whether it failed so far. */
export interface BatchHost<H extends TargetHost> {
  host: H;
  remote: RemoteHost;
  failed: boolean;
}

/** The hosts in groups of `size`, in the order given (the inventory's). */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const step = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += step) out.push(items.slice(i, i + step));
  return out;
}

/** The first candidate still in the run, to run a step on. */
export function stepHost<H extends TargetHost>(candidates: readonly string[], hosts: ReadonlyArray<BatchHost<H>>): BatchHost<H> | undefined {
  for (const name of candidates) {
    const h = hosts.find((x) => x.host.name === name && !x.failed);
    if (h) return h;
  }
  return undefined;
}

/** Runs one step about `target` on the first usable candidate; the error, if any, is the target's (it is what could not be done). */
export async function runAroundStep<H extends TargetHost>(step: AroundStep<H>, target: H, candidates: readonly string[], hosts: ReadonlyArray<BatchHost<H>>): Promise<KubestrapError | undefined> {
  const on = stepHost(candidates, hosts);
  const what = step.describe(target);
  if (!on) return new HostError(target.name, `cannot ${what}: none of ${candidates.join(', ')} answered`, {}, 'bring one of them back, then run apply again: it continues where this run stopped');
  if (step.apply) return applyStep(step.apply, step, target, on);
  const result = await on.remote.run(step.script(target, on.host), { timeoutMs: step.timeoutSec * 1000 });
  if (result.code === 0) return undefined;
  const tail = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-15).join('\n');
  return new HostError(target.name, `could not ${what} (on ${on.host.name})`, { command: what, exitCode: result.code, stderrTail: tail }, step.failureHint);
}

/** A step the controller does through `on`'s channels; a throw is the target's failure, with the API's words. */
async function applyStep<H extends TargetHost>(
  apply: (channel: HostChannel, target: H, on: H) => Promise<void>,
  step: AroundStep<H>,
  target: H,
  on: BatchHost<H>,
): Promise<KubestrapError | undefined> {
  try {
    await apply(channelOf(on.host.name, on.remote), target, on.host);
    return undefined;
  } catch (err) {
    const request = err instanceof ClusterApiError ? `${err.request}: ` : '';
    const message = err instanceof Error ? err.message : String(err);
    const hint = step.failureHint ?? (err instanceof KubestrapError ? err.hint : undefined);
    return new HostError(target.name, `could not ${step.describe(target)} (by the controller, through ${on.host.name}): ${request}${message}`, {}, hint);
  }
}

/** A step as a report and a plan show it, among the host's changes: `drain node w1 (on m1)`. */
export function stepChange<H extends TargetHost>(step: AroundStep<H>, target: H, on: string | undefined): Change {
  const summary = `${step.describe(target)}${on ? ` (on ${on})` : ''}`;
  const resource: CommandResource = { kind: 'command', name: `around:${summary}`, description: summary, check: 'false', run: ':' };
  return { resourceId: `command:around:${target.name}:${summary}`, resource, summary, stage: 'services', steps: [], restarts: [], reloadsSystemd: false };
}
