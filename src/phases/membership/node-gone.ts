import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import { drainNode, nodePath } from '../../cluster-api/node-drain.js';
import { adminApi, exists } from '../cluster-queries.js';
import type { ClusterAction } from '../context.js';
import { namesWith } from './hosts-with-role.js';

/** How long a drain may wait for its pods to go (PodDisruptionBudgets may hold them); past it, the run fails with nothing removed. */
const DRAIN_TIMEOUT_SEC = 120;

/**
 * Its Node drained (evictions respect PodDisruptionBudgets; DaemonSets' pods stay, emptyDir data
 * goes) and deleted, by the controller's own requests to the API server through a remaining
 * master's connection (cluster-api/node-drain.ts): no kubectl on the master. A forgotten host's
 * kubelet cannot confirm that pods stopped, so its Node is deleted without a drain: its pods are
 * then rescheduled elsewhere.
 */
export function nodeGone(spec: ClusterSpec, leaving: HostSpec, forgotten: boolean): ClusterAction {
  const path = nodePath(leaving.name);
  return {
    name: `node-gone:${leaving.name}`,
    description: forgotten
      ? `delete Node ${leaving.name} (not drained: the host is forgotten, --forget)`
      : `drain Node ${leaving.name} (--ignore-daemonsets --delete-emptydir-data, PodDisruptionBudgets respected) and delete it`,
    query: async (channel, on) => !(await exists(adminApi(spec, on, channel), path)),
    apply: async (channel, on) => {
      const api = adminApi(spec, on, channel);
      // No mark: the node is not coming back, nothing is to uncordon it.
      if (!forgotten && !(await drainNode(api, leaving.name, { timeoutSec: DRAIN_TIMEOUT_SEC }))) return;
      await api.delete(path);
    },
    candidates: namesWith(spec, 'master'),
    when: 'before',
    timeoutSec: DRAIN_TIMEOUT_SEC + 60,
    failureHint: `see which pods held the drain (kubectl get pods -A -o wide --field-selector spec.nodeName=${leaving.name}) and their PodDisruptionBudgets; apply again once they can move`,
  };
}
