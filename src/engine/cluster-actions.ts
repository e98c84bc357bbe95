import type { HostSpec } from '../config/cluster-spec.js';
import type { ClusterAction, HostScript } from './phase.js';
import type { CommandResource } from './resource.js';

/** A cluster action and the host chosen to run it (undefined: none of its candidates answered). */
export interface AssignedAction {
  action: ClusterAction;
  host: string | undefined;
}

/** An action is probed, diffed and applied like a command resource of the host that runs it. */
export function actionResource(action: ClusterAction, host: HostSpec, live: readonly string[]): CommandResource {
  const script = (s: HostScript) => (typeof s === 'string' ? s : s(host, live));
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
