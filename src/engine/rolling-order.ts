import type { Restart } from './handlers.js';
import type { Resource } from './resource.js';

/** One host's rolling restarts in a phase, and the services that phase declares there, in its order. */
export interface HostRestarts<T> {
  host: T;
  restarts: readonly Restart[];
  services: readonly string[];
}

/** The services a phase declares, in its order: the order its rolling restarts go in. */
export function serviceOrder(resources: readonly Resource[]): string[] {
  return resources.flatMap((r) => (r.kind === 'service' ? [r.name] : []));
}

/**
 * The order of a phase's rolling restarts across hosts: service-major. Every host's restart of the
 * phase's first service, host after host in the order given (the inventory's), then every host's
 * restart of the next service: so the first service runs its new inputs everywhere before any host
 * restarts the next (upstream's skew policy: every API server before any controller-manager or
 * scheduler). Services in the order the phase declares them; one it does not declare, after those.
 */
export function rollingOrder<T>(hosts: ReadonlyArray<HostRestarts<T>>): Array<{ host: T; restart: Restart }> {
  const services = [...new Set([...hosts.flatMap((h) => h.services), ...hosts.flatMap((h) => h.restarts.map((r) => r.service))])];
  return services.flatMap((service) => hosts.flatMap((h) => h.restarts.filter((r) => r.service === service).map((restart) => ({ host: h.host, restart }))));
}
