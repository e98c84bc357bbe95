import type { Role } from '../config/inventory-schema.js';
import type { RecordFields } from '../engine/host-record.js';
import type { Resource } from '../engine/resource.js';
import { MISSING_TOOLS_FACT } from '../os/host-tools.js';
import { toolProblems } from '../preflight/host-tools.js';
import { LISTENERS_FACT, portProblems } from '../preflight/ports.js';
import type { ClusterContext, PhaseContext } from './context.js';
import { fileResource } from './file-resource.js';
import type { PhaseName } from './phase-names.js';
import { filesOf, withRole, type Phase } from './phase.js';
import { clusterRecord, legacyRecordGone } from './record.js';
import { type ComponentService, fedService, portsNeeded, readinessTools, runningService } from './services.js';

/** The shape every phase that runs components shares: its role's hosts, its folders, its rendered files, its services. */
export interface ComponentPhaseShape {
  name: PhaseName;
  title: string;
  role: Role;
  /** Folders the components need before they start (data, logs), with their modes. */
  directories: ReadonlyArray<{ path: string; mode: number }>;
  /** The services it runs, in start order: each enabled, running and waited on as the catalog says. */
  services: readonly ComponentService[];
  /**
   * Services it does not run but restarts first when they owe a restart (fedService): a phase with
   * host batches restarts them in the window a host is out of service (runner.ts laterServices).
   */
  feeds?: readonly ComponentService[];
  /** What the host record keeps of the phase besides the cluster and its Kubernetes version. */
  record?: (ctx: PhaseContext) => RecordFields;
}

/**
 * A phase that runs components on the hosts of one role: their folders, the files rendered for
 * them, their services (readiness and rolling restarts from the catalog), the host record's
 * entry, and a preflight that the ports they need are free and that the programs their readiness
 * checks run are there (or installed by the run's OS phase). What a phase adds (facts, more
 * preflight, cluster actions, template variables from facts) goes in `more`; a `preflight` there
 * runs after the ports check.
 */
export function componentPhase(shape: ComponentPhaseShape, more: Partial<Pick<Phase, 'facts' | 'preflight' | 'clusterActions' | 'hostValues' | 'limitReads'>> = {}): Phase {
  return {
    name: shape.name,
    title: shape.title,
    appliesTo: (host) => host.roles.includes(shape.role),
    facts: withToolsFact(more.facts ?? [LISTENERS_FACT]),
    resources: (ctx: PhaseContext): Resource[] => [
      ...shape.directories.map((d): Resource => ({ kind: 'directory', path: d.path, mode: d.mode, owner: 'root', group: 'root' })),
      ...filesOf(shape.name, ctx.files).map(fileResource),
      ...(shape.feeds ?? []).map((s) => fedService(ctx.spec, ctx.host, s)),
      ...shape.services.map((s) => runningService(ctx.spec, ctx.host, s)),
      legacyRecordGone(shape.name),
    ],
    record: (ctx) => clusterRecord(ctx.spec, shape.record?.(ctx)),
    preflight: (ctx: ClusterContext) => [
      ...portProblems(withRole(ctx, shape.role), () => portsNeeded(ctx.spec, ...shape.services)),
      ...toolProblems(withRole(ctx, shape.role), (h) => readinessTools(ctx.spec, h.host, ...shape.services)),
      ...(more.preflight?.(ctx) ?? []),
    ],
    ...(more.clusterActions ? { clusterActions: more.clusterActions } : {}),
    ...(more.hostValues ? { hostValues: more.hostValues } : {}),
    // Its preflight looks at each host alone; other hosts are read for its cluster actions only.
    limitReads: more.limitReads ?? (() => []),
  };
}

/** A phase's facts, and the tools its readiness checks run. */
function withToolsFact(facts: NonNullable<Phase['facts']>): NonNullable<Phase['facts']> {
  return typeof facts === 'function' ? (host) => [MISSING_TOOLS_FACT, ...facts(host)] : [MISSING_TOOLS_FACT, ...facts];
}
