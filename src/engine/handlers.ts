import type { Change } from './change.js';
import type { ReadinessCheck, Resource, ServiceResource } from './resource.js';

/** A service restart the phase owes, and why. */
export interface Restart {
  service: string;
  because: string[];
  /** The phase manages the service (restart it); otherwise restart it only if it runs (try-restart). */
  managed: boolean;
  /** Waited for after the restart. */
  ready?: ReadinessCheck;
  /** One host at a time across the cluster, after every host applied the phase's other changes. */
  rolling?: boolean;
  /** A later phase of this run manages the service and restarts it there (with its readiness and order). */
  deferredTo?: string;
  /** The service takes its new inputs with `systemctl reload` (ServiceResource.reloads), not a restart. */
  reload?: boolean;
}

/** What a restart owed does to its service: a restart, or a reload for a service that takes new inputs that way. */
export function verb(r: Pick<Restart, 'reload'>): 'restart' | 'reload' {
  return r.reload ? 'reload' : 'restart';
}

/**
 * Which services restart after a phase's changes: those an applied file names, plus those an
 * interrupted earlier run still owes, minus those this phase starts or stops anyway. Each restarts
 * once, after all of its inputs are written, in the order the phase lists its services. A service
 * that a later phase of the run manages is left to that phase: the debt stays recorded on the host,
 * so the later phase restarts it with its own readiness check and order.
 */
export interface RestartPlan {
  restarts: Restart[];
  /** Restarts left to a later phase; their debt is recorded and not cleared here. */
  deferred: Restart[];
  /** Owed restarts that this phase's own start or stop settles: cleared without a restart. */
  settled: string[];
}

/** Services that later phases of the run manage, with the phase that does. */
export type LaterServices = ReadonlyMap<string, string>;

export function planRestarts(resources: readonly Resource[], changes: readonly Change[], pending: readonly string[], later: LaterServices = new Map()): RestartPlan {
  const services = resources.filter((r): r is ServiceResource => r.kind === 'service');
  const known = new Set([...services.map((s) => s.name), ...resources.flatMap((r) => (r.kind === 'file' ? r.restarts : []))]);
  const reasons = new Map<string, string[]>();
  const add = (service: string, reason: string) => reasons.set(service, [...(reasons.get(service) ?? []), reason]);
  for (const c of changes) for (const s of c.restarts) add(s, c.file?.path ?? c.summary);
  for (const s of pending) if (known.has(s)) add(s, 'an earlier run changed its inputs but did not finish restarting it');

  const startedOrStopped = new Set(changes.flatMap((c) => (c.startsOrStops ? [c.startsOrStops] : [])));
  const stopped = new Set(services.filter((s) => s.running === false).map((s) => s.name));
  const skip = (s: string) => startedOrStopped.has(s) || stopped.has(s);
  const order = [...new Set([...services.map((s) => s.name), ...[...reasons.keys()].sort()])];
  const owed = order
    .filter((s) => reasons.has(s) && !skip(s))
    .map((service): Restart => {
      // A service the phase declares without wanting it running is one it only feeds: restart it if it runs.
      const declared = services.find((r) => r.name === service);
      const own = declared?.running === true ? declared : undefined;
      const deferredTo = own ? undefined : later.get(service);
      return {
        service,
        because: reasons.get(service)!,
        managed: own !== undefined,
        ...(declared?.ready ? { ready: declared.ready } : {}),
        ...(declared?.rolling ? { rolling: true } : {}),
        ...(declared?.reloads ? { reload: true } : {}),
        ...(deferredTo ? { deferredTo } : {}),
      };
    });
  return {
    restarts: owed.filter((r) => !r.deferredTo),
    deferred: owed.filter((r) => r.deferredTo),
    settled: pending.filter((s) => known.has(s) && skip(s)),
  };
}
