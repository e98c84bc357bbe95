import type { Change } from './change.js';
import type { Resource, ServiceResource } from './resource.js';

/** A service restart the phase owes, and why. */
export interface Restart {
  service: string;
  because: string[];
  /** The phase manages the service (restart it); otherwise restart it only if it runs (try-restart). */
  managed: boolean;
}

/**
 * Which services restart after a phase's changes: those an applied file names, plus those an
 * interrupted earlier run still owes, minus those this phase starts or stops anyway. Each restarts
 * once, after all of its inputs are written, in the order the phase lists its services.
 */
export interface RestartPlan {
  restarts: Restart[];
  /** Owed restarts that this phase's own start or stop settles: cleared without a restart. */
  settled: string[];
}

export function planRestarts(resources: readonly Resource[], changes: readonly Change[], pending: readonly string[]): RestartPlan {
  const services = resources.filter((r): r is ServiceResource => r.kind === 'service');
  const known = new Set([...services.map((s) => s.name), ...resources.flatMap((r) => (r.kind === 'file' ? r.restarts : []))]);
  const reasons = new Map<string, string[]>();
  const add = (service: string, reason: string) => reasons.set(service, [...(reasons.get(service) ?? []), reason]);
  for (const c of changes) for (const s of c.restarts) add(s, c.file?.path ?? c.summary);
  for (const s of pending) if (known.has(s)) add(s, 'an earlier run changed its inputs but did not finish restarting it');

  const startedOrStopped = new Set(changes.flatMap((c) => (c.startsOrStops ? [c.startsOrStops] : [])));
  const stopped = new Set(services.filter((s) => s.running === false).map((s) => s.name));
  const skip = (s: string) => startedOrStopped.has(s) || stopped.has(s);
  const order = [...services.map((s) => s.name), ...[...reasons.keys()].sort()];
  return {
    restarts: [...new Set(order)]
      .filter((s) => reasons.has(s) && !skip(s))
      .map((service) => ({ service, because: reasons.get(service)!, managed: services.some((r) => r.name === service && r.running === true) })),
    settled: pending.filter((s) => known.has(s) && skip(s)),
  };
}
