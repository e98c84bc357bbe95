import type { IncomingMessage, ServerResponse } from 'node:http';
import { answer, type SeenRequest } from './api-server.js';

/**
 * A small cluster as the API server keeps it, for useApiServer: Nodes and Pods, the DaemonSets that
 * exist, and PodDisruptionBudgets as the answers they make an eviction get. It answers the requests
 * a drain makes as upstream answers them (a merge patch whose null deletes a key, the pods of a node
 * by the spec.nodeName field selector, the eviction subresource: 201, or 429 with the budget's
 * Status), refuses a field selector upstream refuses for pods, and records what was done.
 */
export interface FakeNode {
  name: string;
  ready?: boolean;
  unschedulable?: boolean;
  annotations?: Record<string, string>;
}

export interface FakePod {
  namespace: string;
  name: string;
  node: string;
  /** The kind of its controller (`ReplicaSet`, `DaemonSet`), none for a bare pod. */
  owner?: { kind: string; name: string };
  phase?: string;
  mirror?: boolean;
  /** How many evictions its budget refuses before it lets one through (Infinity: never). */
  heldFor?: number;
  /** How many looks at the node's pods still see it after its eviction (it stops slowly). */
  stopsAfter?: number;
}

type Json = Record<string, unknown>;

export class FakeKube {
  readonly nodes = new Map<string, Json>();
  readonly pods: Array<FakePod & { uid: string }> = [];
  readonly daemonSets = new Set<string>();
  /** What changed, in order: `evict ns/name`, `patch node w1 {...}`, `delete node w1`. */
  readonly done: string[] = [];
  private evicted = new Map<string, number>();
  private uids = 0;

  constructor(nodes: readonly FakeNode[], pods: readonly FakePod[] = [], daemonSets: readonly string[] = []) {
    for (const n of nodes) {
      this.nodes.set(n.name, {
        metadata: { name: n.name, annotations: n.annotations ?? {}, resourceVersion: '1' },
        spec: n.unschedulable ? { unschedulable: true } : {},
        status: { conditions: [{ type: 'Ready', status: n.ready === false ? 'False' : 'True' }] },
      });
    }
    for (const p of pods) this.pods.push({ ...p, uid: `uid-${++this.uids}` });
    for (const d of daemonSets) this.daemonSets.add(d);
  }

  node(name: string): { unschedulable: boolean; annotations: Record<string, string> } | undefined {
    const n = this.nodes.get(name) as { spec: { unschedulable?: boolean }; metadata: { annotations?: Record<string, string> } } | undefined;
    return n && { unschedulable: n.spec.unschedulable === true, annotations: n.metadata.annotations ?? {} };
  }

  setReady(name: string, ready: boolean): void {
    (this.nodes.get(name) as { status: Json }).status = { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  }

  readonly handler = (req: SeenRequest, res: ServerResponse<IncomingMessage>) => {
    const url = new URL(req.url, 'https://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const key = `${req.method} ${parts.slice(0, 3).join('/')}`;
    if (key === 'GET api/v1/nodes' && parts.length === 3) return answer(res, 200, { kind: 'NodeList', items: [...this.nodes.values()] });
    if (key === 'GET api/v1/nodes') return this.reply(res, this.nodes.get(parts[3]!));
    if (key === 'PATCH api/v1/nodes') return this.patchNode(req, res, parts[3]!);
    if (key === 'DELETE api/v1/nodes') {
      const found = this.nodes.get(parts[3]!);
      if (found) this.done.push(`delete node ${parts[3]}`);
      this.nodes.delete(parts[3]!);
      return this.reply(res, found);
    }
    if (key === 'GET api/v1/pods') return this.listPods(res, url.searchParams.get('fieldSelector'));
    if (req.method === 'POST' && parts[4] === 'pods' && parts[6] === 'eviction') return this.evict(req, res, parts[3]!, parts[5]!);
    if (req.method === 'GET' && parts[0] === 'apis' && parts[5] === 'daemonsets') return this.reply(res, this.daemonSets.has(`${parts[4]}/${parts[6]}`) ? { metadata: { name: parts[6] } } : undefined);
    answer(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: `the server could not find the requested resource (${req.method} ${req.url})` });
  };

  private reply(res: ServerResponse<IncomingMessage>, obj: unknown) {
    if (obj) answer(res, 200, obj);
    else answer(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
  }

  private patchNode(req: SeenRequest, res: ServerResponse<IncomingMessage>, name: string) {
    const found = this.nodes.get(name);
    if (!found) return this.reply(res, undefined);
    if (req.type !== 'application/merge-patch+json') return answer(res, 415, { kind: 'Status', code: 415, message: `unexpected patch type ${req.type}` });
    this.done.push(`patch node ${name} ${req.body}`);
    const merged = mergePatch(found, JSON.parse(req.body)) as Json;
    this.nodes.set(name, merged);
    answer(res, 200, merged);
  }

  private listPods(res: ServerResponse<IncomingMessage>, selector: string | null) {
    const m = /^spec\.nodeName=(.*)$/.exec(selector ?? '');
    if (selector && !m) return answer(res, 400, { kind: 'Status', code: 400, reason: 'BadRequest', message: `field label not supported: ${selector.split('=')[0]}` });
    const on = this.pods.filter((p) => !m || p.node === m[1]);
    // An evicted pod is seen by `stopsAfter` more lists, then gone.
    const gone = on.filter((p) => this.evicted.get(p.uid) === 0);
    for (const p of gone) this.pods.splice(this.pods.indexOf(p), 1);
    const items = on.filter((p) => !gone.includes(p));
    for (const p of items) if (this.evicted.has(p.uid)) this.evicted.set(p.uid, this.evicted.get(p.uid)! - 1);
    answer(res, 200, { kind: 'PodList', items: items.map((p) => podObject(p)) });
  }

  private evict(req: SeenRequest, res: ServerResponse<IncomingMessage>, namespace: string, name: string) {
    const pod = this.pods.find((p) => p.namespace === namespace && p.name === name);
    if (!pod || this.evicted.has(pod.uid)) return this.reply(res, undefined);
    const body = JSON.parse(req.body) as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
    if (body.kind !== 'Eviction' || body.apiVersion !== 'policy/v1' || body.metadata?.name !== name)
      return answer(res, 400, { kind: 'Status', code: 400, message: 'name in URL does not match name in Eviction object' });
    if ((pod.heldFor ?? 0) > 0) {
      pod.heldFor = (pod.heldFor ?? 0) - 1;
      return answer(res, 429, {
        kind: 'Status',
        code: 429,
        reason: 'TooManyRequests',
        message: "Cannot evict pod as it would violate the pod's disruption budget.",
        details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] },
      });
    }
    this.done.push(`evict ${namespace}/${name}`);
    this.evicted.set(pod.uid, pod.stopsAfter ?? 0);
    answer(res, 201, { kind: 'Status', status: 'Success', code: 201 });
  }
}

function podObject(p: FakePod & { uid: string }): Json {
  return {
    metadata: {
      namespace: p.namespace,
      name: p.name,
      uid: p.uid,
      annotations: p.mirror ? { 'kubernetes.io/config.mirror': 'x' } : {},
      ...(p.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'o', controller: true }] } : {}),
    },
    spec: { nodeName: p.node },
    status: { phase: p.phase ?? 'Running' },
  };
}

/** RFC 7386: null deletes a key, objects merge, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
