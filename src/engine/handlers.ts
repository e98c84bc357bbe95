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
 * interrupted earlier run still owes (or an earlier phase of this run left to this one), minus those
 * this phase starts or stops anyway. Each restarts once, after all of its inputs are written, in the
 * order the phase lists its services. A service that a later phase of the run manages is left to
 * that phase: the debt stays recorded on the host, so the later phase restarts it with its own
 * readiness check and order. So is one, even of the phase's own, that a later phase restarts in the
 * window it takes the host out of service (`LaterService.window`).
 */
export interface RestartPlan {
  restarts: Restart[];
  /** Restarts left to a later phase; their debt is recorded and not cleared here. */
  deferred: Restart[];
  /** Owed restarts that this phase's own start or stop settles: cleared without a restart. */
  settled: string[];
}

/** A later phase of the run that restarts a service on this host. */
export interface LaterService {
  phase: string;
  /**
   * It restarts the service while it has the host out of service (a batched phase that feeds the
   * service, on a host it would take out): even the phase that runs the service leaves the restart
   * to it, so that a node is drained once, around every restart that disrupts what it serves.
   */
  window?: boolean;
}

/** Services that later phases of the run restart, by name. */
export type LaterServices = ReadonlyMap<string, LaterService>;

/** Restarts earlier phases of this run left to later ones, with their reasons, by service. */
export type OwedRestarts = ReadonlyMap<string, readonly string[]>;

const EARLIER_RUN = 'an earlier run changed its inputs but did not finish restarting it';

export function planRestarts(resources: readonly Resource[], changes: readonly Change[], pending: readonly string[], later: LaterServices = new Map(), earlier: OwedRestarts = new Map()): RestartPlan {
  const services = resources.filter((r): r is ServiceResource => r.kind === 'service');
  const known = new Set([...services.map((s) => s.name), ...resources.flatMap((r) => (r.kind === 'file' ? r.restarts : []))]);
  const reasons = new Map<string, string[]>();
  const add = (service: string, reason: string) => reasons.set(service, [...(reasons.get(service) ?? []), reason]);
  for (const c of changes) for (const s of c.restarts) add(s, c.file?.path ?? c.summary);
  // A restart this run's earlier phase recorded is pending too (apply): its own reasons say why.
  for (const s of new Set([...pending, ...earlier.keys()])) if (known.has(s)) for (const why of earlier.get(s) ?? [EARLIER_RUN]) add(s, why);

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
      const next = later.get(service);
      const deferredTo = own && !next?.window ? undefined : next?.phase;
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
    settled: [...new Set([...pending, ...earlier.keys()])].filter((s) => known.has(s) && skip(s)),
  };
}
