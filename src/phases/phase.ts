import type { Phase as EnginePhase } from '../engine/phase.js';
import type { RenderedFile } from '../render/render-cluster.js';
import { phaseOfFile } from './file-ownership.js';

export type { ClusterContext, ClusterHost, PhaseContext } from '../engine/phase.js';

/** Phases in the order a full run applies them. */
export const PHASE_ORDER = ['os', 'runtime', 'artifacts', 'pki', 'etcd', 'control-plane', 'network', 'workers', 'addons', 'verify'] as const;
export type PhaseName = (typeof PHASE_ORDER)[number];

/** kubestrap's phases: the engine's phases, named in run order. */
export type Phase = EnginePhase<PhaseName>;

/** The rendered files a phase installs (see file-ownership.ts). */
export function filesOf(phase: PhaseName, files: readonly RenderedFile[]): RenderedFile[] {
  return files.filter((f) => phaseOfFile(f.path) === phase);
}
