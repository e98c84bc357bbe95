import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type {
  ClusterAction as EngineClusterAction,
  ClusterContext as EngineClusterContext,
  ClusterHost as EngineClusterHost,
  HostScript as EngineHostScript,
  Phase as EnginePhase,
  PhaseContext as EnginePhaseContext,
} from '../engine/phase.js';
import type { DetectedOs } from '../os/detect.js';
import type { RenderedFile } from '../render/render-cluster.js';

/** What kubestrap's phases know of a reachable host besides its facts: its OS, and the files rendered for it. */
export interface HostDetail {
  os: DetectedOs;
  /** Every file rendered for this host; a phase installs the ones it owns. */
  files: readonly RenderedFile[];
}

/** The engine's contexts, for kubestrap's cluster spec and hosts. */
export type PhaseContext = EnginePhaseContext<ClusterSpec, HostSpec, HostDetail>;
export type ClusterHost = EngineClusterHost<HostSpec, HostDetail>;
export type ClusterContext = EngineClusterContext<ClusterSpec, HostSpec, HostDetail>;
export type ClusterAction = EngineClusterAction<HostSpec>;
export type HostScript = EngineHostScript<HostSpec>;
/** Any engine phase on kubestrap's spec and hosts: the bring-up's own, or another procedure's (reset). */
export type KubestrapPhase = EnginePhase<string, ClusterSpec, HostSpec, HostDetail>;
