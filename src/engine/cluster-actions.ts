import type { ClusterAction, HostScript } from './phase.js';
import type { CommandResource } from './resource.js';
import type { TargetHost } from './target.js';

/** A cluster action and the host chosen to run it (undefined: none of its candidates answered). */
export interface AssignedAction<H extends TargetHost> {
  action: ClusterAction<H>;
  host: string | undefined;
}

/** An action is probed, diffed and applied like a command resource of the host that runs it. */
export function actionResource<H extends TargetHost>(action: ClusterAction<H>, host: H, live: readonly string[]): CommandResource {
  const script = (s: HostScript<H>) => (typeof s === 'string' ? s : s(host, live));
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
