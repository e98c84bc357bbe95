import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeApi } from './kube-api.js';
import { controllerOf, NodeListSchema, NodeSchema, ObjectSchema, PodListSchema, readyStatus, type Node, type Pod } from './kube-objects.js';

/**
 * A node drained and put back through the API server's REST API, as `kubectl drain
 * --ignore-daemonsets --delete-emptydir-data --timeout` and `kubectl uncordon` do it
 * (k8s.io/kubectl/pkg/drain): cordon, list the node's pods, refuse what kubectl refuses without
 * --force, evict the rest (PodDisruptionBudgets hold: an eviction they refuse is asked again until
 * the time is up), wait until they are gone. The controller makes every request: nothing starts on
 * the master that carries them.
 */

/** The annotation the kubelet puts on the API server's copy of a static pod: not evictable, the kubelet owns it. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

export interface DrainTiming {
  /** How long the evictions may take in all. */
  timeoutSec: number;
  /** How long between two evictions of a pod its budget held (kubectl: 5 s), and between two looks at the pods still there. */
  retryMs?: number;
}

export interface DrainOptions extends DrainTiming {
  /** An annotation set on the node when this drain cordons it (not when it was cordoned already), so only what kubestrap cordoned is uncordoned later. */
  mark?: string;
}

const RETRY_MS = 5_000;

export const nodePath = (node: string) => `/api/v1/nodes/${encodeURIComponent(node)}`;
const podsOn = (node: string) => `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
const podName = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;
const finished = (pod: Pod) => pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed';

/** A drain that cannot finish: what stops it, for the error the run reports. */
export class DrainRefused extends Error {}

/**
 * Drains `node`: false when it is not registered (nothing to drain). Throws DrainRefused when a pod
 * may not be evicted (no controller, an orphaned DaemonSet pod) or when pods are still there at
 * the time limit, naming each and why.
 */
export async function drainNode(api: KubeApi, node: string, opts: DrainOptions): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutSec * 1000;
  const found = await api.get(nodePath(node), NodeSchema);
  if (!found) return false;
  await cordon(api, found, opts.mark);
  const pods = await evictable(api, node);
  await evictAll(api, node, pods, deadline, opts);
  return true;
}

/** Marks the node unschedulable, with `mark` when it was schedulable: what an operator cordoned is theirs to uncordon. */
async function cordon(api: KubeApi, node: Node, mark: string | undefined): Promise<void> {
  if (node.spec.unschedulable) return;
  await api.patch(nodePath(node.metadata.name), 'merge', { ...(mark ? { metadata: { annotations: { [mark]: 'true' } } } : {}), spec: { unschedulable: true } });
}

/**
 * The node's pods a drain evicts, as kubectl's filters pick them: mirror pods and running
 * DaemonSet pods stay (--ignore-daemonsets), emptyDir data goes (--delete-emptydir-data), finished
 * pods go whatever owns them. A running pod no controller would recreate, or whose DaemonSet is
 * gone, refuses the drain before any eviction, as kubectl without --force does.
 */
async function evictable(api: KubeApi, node: string): Promise<Pod[]> {
  const pods = (await api.get(podsOn(node), PodListSchema))?.items ?? [];
  const refused: string[] = [];
  const evict: Pod[] = [];
  for (const pod of pods) {
    if (pod.metadata.annotations[MIRROR_POD_ANNOTATION] !== undefined) continue;
    const owner = controllerOf(pod);
    if (finished(pod)) evict.push(pod);
    else if (!owner) refused.push(`${podName(pod)}: declares no controller (nothing would recreate it elsewhere; delete it yourself if it may go)`);
    else if (owner.kind !== 'DaemonSet') evict.push(pod);
    else if (!(await api.get(`/apis/apps/v1/namespaces/${encodeURIComponent(pod.metadata.namespace)}/daemonsets/${encodeURIComponent(owner.name)}`, ObjectSchema)))
      refused.push(`${podName(pod)}: its DaemonSet ${owner.name} is gone (delete the pod yourself)`);
  }
  if (refused.length) throw new DrainRefused(`cannot drain node ${node}: ${refused.join('; ')}`);
  return evict;
}

/**
 * Evicts every pod, asking again for those a budget holds, and waits until none of them is on the
 * node any more (gone, or replaced by a pod of the same name and another uid), until `deadline`.
 */
async function evictAll(api: KubeApi, node: string, pods: readonly Pod[], deadline: number, timing: DrainTiming): Promise<void> {
  const retryMs = timing.retryMs ?? RETRY_MS;
  // Why each pod is still there: a budget's answer, or evicted and still stopping.
  const why = new Map<Pod, string>(pods.map((p) => [p, 'not evicted yet']));
  const pending = new Set(pods);
  for (;;) {
    // All at once, as kubectl does (a goroutine per pod).
    await Promise.all(
      [...pending].map(async (pod) => {
        const { held } = await api.evict(pod.metadata.namespace, pod.metadata.name);
        if (held !== undefined) return why.set(pod, `eviction refused: ${held}`);
        pending.delete(pod);
        why.set(pod, 'evicted, still stopping');
      }),
    );
    const there = await stillThere(api, node, pods);
    if (there.length === 0) return;
    if (Date.now() >= deadline) {
      const list = there.map((p) => `${podName(p)} (${why.get(p) ?? ''})`).join('; ');
      throw new DrainRefused(`pods still on node ${node} after ${timing.timeoutSec} s: ${list}`);
    }
    await sleep(Math.min(retryMs, Math.max(0, deadline - Date.now())));
  }
}

/** Those of `pods` the node still holds: same namespace, name and uid. */
async function stillThere(api: KubeApi, node: string, pods: readonly Pod[]): Promise<Pod[]> {
  const now = new Set(((await api.get(podsOn(node), PodListSchema))?.items ?? []).map((p) => `${podName(p)}/${p.metadata.uid ?? ''}`));
  return pods.filter((p) => now.has(`${podName(p)}/${p.metadata.uid ?? ''}`));
}

/**
 * Waits until `node` says Ready (polled every `pollMs`), then uncordons it if it carries `mark`
 * (clearing both in one patch). False when the node is not registered.
 */
export async function uncordonWhenReady(api: KubeApi, node: string, mark: string, opts: { timeoutSec: number; pollMs?: number }): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutSec * 1000;
  for (;;) {
    const found = await api.get(nodePath(node), NodeSchema);
    if (!found) return false;
    if (readyStatus(found) === 'True') {
      if (found.metadata.annotations[mark] !== undefined) await uncordon(api, node, mark);
      return true;
    }
    if (Date.now() >= deadline) throw new DrainRefused(`node ${node} is not Ready after ${opts.timeoutSec} s`);
    await sleep(opts.pollMs ?? 2_000);
  }
}

/** Schedulable again, the mark removed (null deletes a key in a merge patch). */
export function uncordon(api: KubeApi, node: string, mark: string): Promise<void> {
  return api.patch(nodePath(node), 'merge', { metadata: { annotations: { [mark]: null } }, spec: { unschedulable: null } });
}

/** The Ready nodes that carry `mark`: left drained by a run that stopped before putting them back. */
export async function markedReadyNodes(api: KubeApi, mark: string): Promise<string[]> {
  const nodes = (await api.get('/api/v1/nodes', NodeListSchema))?.items ?? [];
  return nodes.filter((n) => n.metadata.annotations[mark] !== undefined && readyStatus(n) === 'True').map((n) => n.metadata.name);
}
