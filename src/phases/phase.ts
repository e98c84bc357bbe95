import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { Role } from '../config/inventory-schema.js';
import type { HostFacts } from '../engine/facts.js';
import type { Phase as EnginePhase } from '../engine/phase.js';
import type { ClusterContext, HostDetail } from './context.js';
import type { RenderedFile } from '../render/render-cluster.js';
import { phaseOfFile } from './file-ownership.js';
import type { PhaseName } from './phase-names.js';

export type { ClusterAction, ClusterContext, ClusterHost, HostDetail, PhaseContext } from './context.js';

export { PHASE_ORDER, type PhaseName } from './phase-names.js';

/** kubestrap's phases: the engine's phases, named in run order. */
export interface Phase extends EnginePhase<PhaseName, ClusterSpec, HostSpec, HostDetail> {
  /**
   * Template variables this phase derives from what a host is (a cgroup driver, a runtime's config
   * format). Without facts (`bootstrap render`, and the check before connecting) it gives what it
   * assumes for a fresh host.
   */
  hostValues?(host: HostSpec, facts: HostFacts | undefined): Record<string, string>;
}

/** The rendered files a phase installs (see file-ownership.ts). */
export function filesOf(phase: PhaseName, files: readonly RenderedFile[]): RenderedFile[] {
  return files.filter((f) => phaseOfFile(f.path) === phase);
}

/** The run's hosts that have `role`, as a context of their own (what a role's preflight checks look at). */
export function withRole(ctx: ClusterContext, role: Role): ClusterContext {
  return { ...ctx, hosts: ctx.hosts.filter((h) => h.host.roles.includes(role)) };
}

/** A phase's `limitReads` for cluster actions on hosts of `roles`: those hosts, whichever hosts the run is limited to. */
export function readsRoles(...roles: Role[]): (limited: readonly HostSpec[], hosts: readonly HostSpec[]) => HostSpec[] {
  return (_limited, hosts) => hosts.filter((h) => roles.some((r) => h.roles.includes(r)));
}

/** Names of the run's hosts that have `role`, in inventory order: the candidates of a cluster action. */
export function namesWithRole(ctx: ClusterContext, role: Role): string[] {
  return withRole(ctx, role).hosts.map((h) => h.host.name);
}
