import { ClusterApiError, HostError, KubestrapError } from '../errors.js';
import { applyChanges } from './apply.js';
import type { Change } from './change.js';
import type { ClusterAction, HostChannel, HostScript } from './phase.js';
import type { CommandResource } from './resource.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import type { TargetHost } from './target.js';

/** A cluster action and the host chosen to run it (undefined: none of its candidates answered). */
export interface AssignedAction<H extends TargetHost> {
  action: ClusterAction<H>;
  host: string | undefined;
}

/**
 * What stands for a check or a run the controller makes itself (query, apply): the runner never
 * sends it to the host, it only lets the action be diffed like any command resource.
 */
const BY_THE_CONTROLLER = ': done by the controller through the API, not on the host';

/** An action is probed, diffed and applied like a command resource of the host that runs it. */
export function actionResource<H extends TargetHost>(action: ClusterAction<H>, host: H, live: readonly string[]): CommandResource {
  const script = (s: HostScript<H> | undefined) => (s === undefined ? BY_THE_CONTROLLER : typeof s === 'string' ? s : s(host, live));
  return {
    kind: 'command',
    name: `cluster:${action.name}`,
    description: `once for the cluster: ${action.description}`,
    check: script(action.check),
    run: script(action.run),
    ...(action.failureHint ? { failureHint: action.failureHint } : {}),
    ...(action.timeoutSec ? { timeoutSec: action.timeoutSec } : {}),
  };
}

/**
 * Carries out an action found needed (`change`, its resource's): by the controller through the
 * host's channels when it has `apply`, else its `run` on the host. Resolves to the failure, if any.
 */
export async function carryOut<H extends TargetHost>(
  action: ClusterAction<H>,
  change: Change,
  on: { host: H; remote: RemoteHost; channel: HostChannel; live: readonly string[] },
): Promise<KubestrapError | undefined> {
  if (!action.apply) return (await applyChanges(on.remote, [change], { restarts: [], deferred: [], settled: [] })).failure;
  try {
    await action.apply(on.channel, on.host, on.live);
    return undefined;
  } catch (err) {
    const request = err instanceof ClusterApiError ? `${err.request}: ` : '';
    const message = err instanceof Error ? err.message : String(err);
    return new HostError(on.host.name, `${change.summary}: ${request}${message}`, { resource: change.resourceId }, action.failureHint ?? (err instanceof KubestrapError ? err.hint : undefined));
  }
}
