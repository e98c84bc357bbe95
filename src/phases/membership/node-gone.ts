import { kubectl } from '../../components/clients.js';
import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import { shq } from '../../ssh/quote.js';
import type { ClusterAction } from '../context.js';
import { namesWith } from './hosts-with-role.js';

/** How long a drain may wait for its pods to go (PodDisruptionBudgets may hold them); past it, the run fails with nothing removed. */
const DRAIN_TIMEOUT_SEC = 120;

/**
 * Its Node drained (evictions respect PodDisruptionBudgets; DaemonSets' pods stay, emptyDir data
 * goes) and deleted. A forgotten host's kubelet cannot confirm that pods stopped, so its Node is
 * deleted without a drain: its pods are then rescheduled elsewhere.
 */
export function nodeGone(spec: ClusterSpec, leaving: HostSpec, forgotten: boolean): ClusterAction {
  const name = shq(leaving.name);
  const present = (k: string) => `ks_node=$(${k} get node ${name} -o name --ignore-not-found) && [ -n "$ks_node" ]`;
  const drain = (k: string) => `${k} drain ${name} --ignore-daemonsets --delete-emptydir-data --timeout=${DRAIN_TIMEOUT_SEC}s`;
  return {
    name: `node-gone:${leaving.name}`,
    description: forgotten
      ? `delete Node ${leaving.name} (not drained: the host is forgotten, --forget)`
      : `drain Node ${leaving.name} (--ignore-daemonsets --delete-emptydir-data, PodDisruptionBudgets respected) and delete it`,
    check: (h) => `ks_node=$(${kubectl(h)} get node ${name} -o name --ignore-not-found) && [ -z "$ks_node" ]`,
    run: (h) => `set -e\nif ${present(kubectl(h))}; then ${forgotten ? '' : `${drain(kubectl(h))}; `}${kubectl(h)} delete node ${name}; fi`,
    candidates: namesWith(spec, 'master'),
    when: 'before',
    timeoutSec: DRAIN_TIMEOUT_SEC + 60,
    failureHint: `see which pods held the drain (kubectl get pods -A -o wide --field-selector spec.nodeName=${leaving.name}) and their PodDisruptionBudgets; apply again once they can move`,
  };
}
