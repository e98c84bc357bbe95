import type { ClusterAction } from './phase.js';
import type { CommandResource } from './resource.js';

/** A cluster action and the host chosen to run it (undefined: none of its candidates answered). */
export interface AssignedAction {
  action: ClusterAction;
  host: string | undefined;
}

/** An action is probed, diffed and applied like a command resource of the host that runs it. */
export function actionResource(action: ClusterAction): CommandResource {
  return {
    kind: 'command',
    name: `cluster:${action.name}`,
    description: `once for the cluster: ${action.description}`,
    check: action.check,
    run: action.run,
    ...(action.failureHint ? { failureHint: action.failureHint } : {}),
  };
}
