import type { HostSpec } from '../config/cluster-spec.js';
import { UpgradeError, type KubestrapError } from '../errors.js';
import type { HostFacts } from '../engine/facts.js';
import { parseVersion, upgradeRefusals, type ComponentVersions, type HostVersions, type UpgradeComponent } from '../upstream/index.js';
import type { ClusterContext } from './context.js';
import type { PhaseName } from './phase-names.js';

/**
 * Where each upgraded component lives: the role that runs it, the phase that installs it (whose
 * entry in the host record says the version it runs) and the record field and property that hold
 * its version. containerd is the runtime phase's own decision (src/runtime/source.ts refuses a
 * runtime the target Kubernetes does not support), so it is not judged here.
 */
const RECORDED: ReadonlyArray<{ component: UpgradeComponent; role: HostSpec['roles'][number]; phase: PhaseName; field: 'kubernetes' | 'etcd'; key: 'KUBE_VERSION' | 'ETCD_VERSION' }> = [
  { component: 'etcd', role: 'etcd', phase: 'etcd', field: 'etcd', key: 'ETCD_VERSION' },
  { component: 'control-plane', role: 'master', phase: 'control-plane', field: 'kubernetes', key: 'KUBE_VERSION' },
  { component: 'node', role: 'worker', phase: 'workers', field: 'kubernetes', key: 'KUBE_VERSION' },
];

/** What the host's record says it runs: the version its phase entry recorded when it last applied. */
export function recordedVersions(facts: HostFacts): ComponentVersions {
  const out: ComponentVersions = {};
  for (const r of RECORDED) {
    const value = facts.record.get(r.phase)?.fields[r.field];
    const version = typeof value === 'string' ? parseVersion(value) : undefined;
    if (version) out[r.component] = version;
  }
  return out;
}

/**
 * What the host runs once this run is over: the config's version for a component whose phase the
 * run applies on a host of its role, or whose binaries it replaces (the artifacts phase, which
 * restarts what runs them); the recorded one where the run leaves both out (`--phase`).
 */
function versionsAfter(host: HostSpec, running: ComponentVersions, phases: readonly string[] | undefined): ComponentVersions {
  const out: ComponentVersions = {};
  for (const r of RECORDED) {
    if (!host.roles.includes(r.role)) continue;
    const applied = !phases || phases.includes(r.phase) || phases.includes('artifacts');
    const version = applied ? parseVersion(host.values[r.key] ?? '') : running[r.component];
    if (version) out[r.component] = version;
  }
  return out;
}

export function hostVersions(ctx: ClusterContext): HostVersions[] {
  return ctx.hosts.map((h) => {
    const running = recordedVersions(h.facts);
    return { host: h.host.name, running, wanted: versionsAfter(h.host, running, ctx.phases) };
  });
}

/**
 * The upgrade rules of upstream on a plan or apply: a version edit that skips a minor, goes back
 * across one, or leaves a mix of versions upstream does not support is refused before any host
 * changes, with the version to go to instead.
 */
export function upgradeProblems(ctx: ClusterContext): KubestrapError[] {
  const waivers = { containerdUnsupported: ctx.spec.values.CONTAINERD_ALLOW_UNSUPPORTED === 'true' };
  return upgradeRefusals(hostVersions(ctx), waivers).map((r) => new UpgradeError(r.rule, `${ctx.spec.configFile} ${r.key}`, r.hosts, r.message, r.way));
}
