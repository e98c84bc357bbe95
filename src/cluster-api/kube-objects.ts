import { z } from 'zod';

/**
 * The parts of Kubernetes objects kubestrap reads, as zod schemas: what is not listed is ignored,
 * what is listed and absent reads as Kubernetes' own default (no labels, no taints, no conditions).
 */
const Metadata = z.object({ name: z.string(), labels: z.record(z.string(), z.string()).default({}), resourceVersion: z.string().optional() });

/** Any object: it exists, with a name and labels. */
export const ObjectSchema = z.object({ metadata: Metadata });

export const ConfigMapSchema = z.object({ metadata: Metadata, data: z.record(z.string(), z.string()).default({}) });

export const NodeSchema = z.object({
  metadata: Metadata,
  spec: z.object({ podCIDR: z.string().optional(), taints: z.array(z.looseObject({ key: z.string(), effect: z.string().optional() })).default([]) }).default({ taints: [] }),
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
