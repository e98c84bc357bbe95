import { portsOf, service, type ServiceName } from '../components/catalog.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { ServiceResource } from '../engine/resource.js';
import type { PortNeed } from '../preflight/ports.js';

/**
 * The cluster's services as resources, restarted the way the component catalog says: with their
 * readiness check, one host at a time where a quorum or availability depends on it. One place, so a
 * phase that only feeds a service (the pki phase writes etcd's certificates) restarts it the same
 * way as the phase that runs it.
 */
export type ComponentService = ServiceName;

/** A service a phase runs: enabled, running, with its readiness and restart order. */
export function runningService(spec: ClusterSpec, host: HostSpec, name: ComponentService): ServiceResource {
  return { kind: 'service', name: unitName(name), enabled: true, running: true, ...restartPolicy(spec, host, name) };
}

/**
 * A service a phase feeds but does not run (its certificates, say): no wish about its state, only
 * how to restart it when it runs, if no later phase of the run manages it.
 */
export function fedService(spec: ClusterSpec, host: HostSpec, name: ComponentService): ServiceResource {
  return { kind: 'service', name: unitName(name), ...restartPolicy(spec, host, name) };
}

/** The name systemctl and the engine know the service by. */
function unitName(name: ComponentService): string {
  return service(name).unit.replace(/\.service$/, '');
}

function restartPolicy(spec: ClusterSpec, host: HostSpec, name: ComponentService): Pick<ServiceResource, 'ready' | 'rolling' | 'reloads'> {
  const { readiness, rolling, reloads } = service(name);
  const ready = readiness?.(spec, host);
  return {
    ...(ready ? { ready: { check: ready.check, description: ready.description, timeoutSec: ready.timeoutSec } } : {}),
    ...(rolling ? { rolling: true } : {}),
    ...(reloads ? { reloads: true } : {}),
  };
}

/** The programs the readiness checks of these services run on `host` (curl): a preflight finds them missing. */
export function readinessTools(spec: ClusterSpec, host: HostSpec, ...names: ComponentService[]): string[] {
  return [...new Set(names.flatMap((name) => service(name).readiness?.(spec, host)?.tools ?? []))];
}

/** The ports these services listen on, each to be held by its own unit: what a preflight finds taken. */
export function portsNeeded(spec: ClusterSpec, ...names: ComponentService[]): PortNeed[] {
  return names.flatMap((name) => portsOf(spec, name).map(({ port, setting }) => ({ port, unit: service(name).unit, ...(setting ? { key: setting } : {}) })));
}
