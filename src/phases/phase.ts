import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { HostFacts } from '../engine/facts.js';
import type { Resource } from '../engine/resource.js';
import type { DetectedOs } from '../os/detect.js';
import type { RenderedFile } from '../render/render-cluster.js';

/** Phases in the order a full run applies them. */
export const PHASE_ORDER = ['os', 'runtime', 'artifacts', 'pki', 'etcd', 'control-plane', 'network', 'workers', 'verify'] as const;
export type PhaseName = (typeof PHASE_ORDER)[number];

export interface PhaseContext {
  spec: ClusterSpec;
  host: HostSpec;
  facts: HostFacts;
  os: DetectedOs;
  /** The rendered files this phase installs on this host. */
  files: RenderedFile[];
}

/**
 * A phase says what should be true on a host; it never talks to the host. Everything it returns
 * goes through the engine, which probes, diffs, applies, and restarts.
 */
export interface Phase {
  name: PhaseName;
  title: string;
  appliesTo(host: HostSpec): boolean;
  resources(ctx: PhaseContext): Resource[];
}
