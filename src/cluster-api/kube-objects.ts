import { z } from 'zod';

/**
 * The parts of Kubernetes objects kubestrap reads, as zod schemas: what is not listed is ignored,
 * what is listed and absent reads as Kubernetes' own default (no labels, no taints, no conditions).
 */
const Metadata = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  resourceVersion: z.string().optional(),
});

/** Any object: it exists, with a name and labels. */
export const ObjectSchema = z.object({ metadata: Metadata });

export const ConfigMapSchema = z.object({ metadata: Metadata, data: z.record(z.string(), z.string()).default({}) });

export const NodeSchema = z.object({
  metadata: Metadata,
  spec: z
    .object({
      podCIDR: z.string().optional(),
      unschedulable: z.boolean().default(false),
      taints: z.array(z.looseObject({ key: z.string(), effect: z.string().optional() })).default([]),
    })
    .default({ unschedulable: false, taints: [] }),
  status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })).default([]) }).default({ conditions: [] }),
});
export type Node = z.infer<typeof NodeSchema>;

export const NodeListSchema = z.object({ items: z.array(NodeSchema) });

/** A node's Ready condition as the API server reports it (`Unknown` without one). */
export function readyStatus(node: Node): string {
  return node.status.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}

/** A Secret whole, as it is written back: every field kept, whether kubestrap reads it or not. */
export const SecretSchema = z.looseObject({ metadata: z.looseObject({ name: z.string(), namespace: z.string() }) });

export const SecretListSchema = z.object({ items: z.array(SecretSchema) });

/** A pod as a drain reads it: who controls it, whether it is a mirror of a static pod, whether it finished. */
export const PodSchema = z.object({
  metadata: Metadata.extend({
    namespace: z.string(),
    uid: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    ownerReferences: z.array(z.object({ kind: z.string(), name: z.string(), controller: z.boolean().optional() })).default([]),
  }),
  status: z.object({ phase: z.string().optional() }).default({}),
});
export type Pod = z.infer<typeof PodSchema>;

export const PodListSchema = z.object({ items: z.array(PodSchema) });

/** The object that controls a pod (its ownerReference with controller: true), if any. */
export function controllerOf(pod: Pod): { kind: string; name: string } | undefined {
  return pod.metadata.ownerReferences.find((o) => o.controller === true);
}
