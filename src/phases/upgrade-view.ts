import type { HostFacts } from '../engine/facts.js';
import { parseVersion } from '../upstream/index.js';
import type { ClusterContext, ClusterHost, KubestrapPhase } from './context.js';
import { nodeBatches } from './node-drain.js';
import type { PhaseName } from './phase-names.js';
import { installedContainerd } from './runtime.js';

/**
 * An upgrade as plan shows it (issue 24): the versions that move, in the order the run moves them,
 * per host with the version it runs now and the one it will run. What a host runs is what its
 * record says its phase installed (containerd: what the host has installed, which its facts read);
 * what it will run is what the phase records for this run (the config's version, the runtime's
 * choice). A host already at the version, or new (nothing runs yet), is not in it.
 */
export interface UpgradeStep {
  /** What moves: `etcd`, `kube-apiserver`, `kubelet, kube-proxy`. */
  components: string;
  to: string;
  /** In the order they move (the inventory's), each with the version it runs now. */
  hosts: Array<{ host: string; from: string }>;
  /** How they move: `one member at a time`, `each node drained, 1 at a time`. */
  how: string;
}

/** One step's source: which phase's record field holds the version, and which hosts move in it. */
interface Move {
  components: string;
  phase: PhaseName;
  field: string;
  how: (maxUnavailable: number) => string;
  /** The version the host runs now; by default its record's. */
  running?: (facts: HostFacts) => string | undefined;
  /** Only the hosts drained (or not) around their node agents' restarts. */
  drained?: boolean;
}

const containerd = (facts: HostFacts) => installedContainerd(facts)?.tag;

/** In run order: the runtime on hosts not drained, etcd, the control plane service by service, then each node in its drain (runtime first). */
const MOVES: readonly Move[] = [
  { components: 'containerd', phase: 'runtime', field: 'containerd', running: containerd, drained: false, how: () => 'restarted in the runtime phase, before etcd' },
  { components: 'etcd', phase: 'etcd', field: 'etcd', how: () => 'one member at a time, each healthy before the next' },
  { components: 'kube-apiserver', phase: 'control-plane', field: 'kubernetes', how: () => 'one master at a time, each ready before the next' },
  { components: 'kube-controller-manager, kube-scheduler', phase: 'control-plane', field: 'kubernetes', how: () => 'one master at a time, once every API server runs the new version' },
  { components: 'containerd', phase: 'runtime', field: 'containerd', running: containerd, drained: true, how: () => "in each node's drain, before its kubelet" },
  { components: 'kubelet, kube-proxy', phase: 'workers', field: 'kubernetes', drained: true, how: (n) => `each node drained, ${n} at a time, then uncordoned once Ready` },
];

/**
 * The run's upgrade steps: for each version field of the run's phases, the hosts whose recorded
 * version differs from the one this run records. `limit` (--limit) keeps the hosts the run changes.
 */
export function upgradeSteps(ctx: ClusterContext, phases: readonly KubestrapPhase[], maxUnavailable = 1, limit?: readonly string[]): UpgradeStep[] {
  const serving = phases.some((p) => p.name === 'workers') ? nodeBatches(ctx, maxUnavailable).serving : () => false;
  return MOVES.flatMap((move) => {
    const phase = phases.find((p) => p.name === move.phase);
    if (!phase) return [];
    const moving = ctx.hosts
      .filter((h) => (!limit || limit.includes(h.host.name)) && (move.drained === undefined || serving(h.host, h.facts) === move.drained))
      .flatMap((h) => hostMove(ctx, phase, move, h));
    // Hosts bound for another version (a per-host setting) are a step of their own.
    return [...new Set(moving.map((m) => m.to))].map((to) => ({
      components: move.components,
      to,
      hosts: moving.filter((m) => m.to === to).map(({ host, from }) => ({ host, from })),
      how: move.how(maxUnavailable),
    }));
  });
}

function hostMove(ctx: ClusterContext, phase: KubestrapPhase, move: Move, h: ClusterHost): Array<{ host: string; from: string; to: string }> {
  if (!phase.appliesTo(h.host) || phase.ignores?.(h.host)) return [];
  const recorded = h.facts.record.get(phase.name)?.fields[move.field];
  const from = move.running ? move.running(h.facts) : typeof recorded === 'string' ? tagOf(recorded) : undefined;
  const wanted = phase.record?.({ spec: ctx.spec, ...h })[move.field];
  const to = typeof wanted === 'string' ? tagOf(wanted) : undefined;
  return from && to && from !== to ? [{ host: h.host.name, from, to }] : [];
}

/** One spelling per version (`v1.36.0`), whether the record or the config wrote it with its v or not. */
function tagOf(value: string): string {
  return parseVersion(value)?.tag ?? value;
}
