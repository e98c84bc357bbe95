import { isOn } from '../components/catalog.js';
import { binaryPath } from '../components/paths.js';
import type { HostSpec } from '../config/cluster-spec.js';
import type { Role } from '../config/inventory-schema.js';
import { leadingVersion } from '../runtime/versions.js';
import { shq } from '../ssh/quote.js';
import { compareVersions, parseVersion, skewViolations, type ComponentVersions, type SkewWaivers, type UpgradeComponent, type Version } from '../upstream/index.js';
import type { BinaryName } from '../upstream/index.js';
import type { HealthCheck, HealthRow } from './checks.js';

/**
 * Which version each component runs on each host, as its binary says (`--version`), and whether the
 * mix of them is one upstream's skew policy allows (src/upstream/upgrade-policy.ts). The rows say
 * the version the config wants where it differs (an upgrade not applied yet, or stopped part way);
 * only the skew row fails, since a cluster mid-upgrade within the policy is healthy.
 */
interface VersionProbe {
  /** The row's check: `kubelet version`. */
  check: string;
  role: Role;
  /** What the skew rules call it; kube-proxy and the controllers follow their host's kubelet and API server. */
  component?: UpgradeComponent;
  /** The command that prints the version; its first x.y.z is the version. */
  command(host: HostSpec): string;
  /** The version the config wants; undefined where the host picks it (a packaged containerd). */
  wanted(host: HostSpec): string | undefined;
}

const binary = (name: BinaryName) => (host: HostSpec) => `${shq(binaryPath(host, name))} --version`;
const kube = (host: HostSpec) => host.values.KUBE_VERSION;

const PROBES: readonly VersionProbe[] = [
  { check: 'etcd version', role: 'etcd', component: 'etcd', command: binary('etcd'), wanted: (h) => h.values.ETCD_VERSION },
  { check: 'kube-apiserver version', role: 'master', component: 'control-plane', command: binary('kube-apiserver'), wanted: kube },
  { check: 'kube-controller-manager version', role: 'master', command: binary('kube-controller-manager'), wanted: kube },
  { check: 'kube-scheduler version', role: 'master', command: binary('kube-scheduler'), wanted: kube },
  { check: 'kubelet version', role: 'worker', component: 'node', command: binary('kubelet'), wanted: kube },
  { check: 'kube-proxy version', role: 'worker', command: binary('kube-proxy'), wanted: kube },
  // The packages' containerd is on PATH, the release binaries' in BIN_PATH: the runtime phase installs either.
  { check: 'containerd version', role: 'worker', component: 'containerd', command: (h) => `PATH=${shq(h.values.BIN_PATH ?? '')}:$PATH containerd --version`, wanted: () => undefined },
];

const VERSION_CHECKS = new Set(PROBES.map((p) => p.check));

/** The row that fails when the versions hosts run break a skew rule. */
export const SKEW_CHECK = 'version skew';

/** One check per host: every component of its roles says its version, in one command. */
export function versionsCheck(host: HostSpec): HealthCheck {
  const probes = PROBES.filter((p) => host.roles.includes(p.role) && (p.check !== 'containerd version' || isOn(host, 'containerd')));
  return {
    key: 'versions',
    script: probes.map((p) => `printf '%s\\t%s\\n' ${shq(p.check)} "$(${p.command(host)} 2>&1 | head -n 1)"`).join('\n'),
    read: (out) => probes.map((p) => versionRow(host, p, out)),
  };
}

function versionRow(host: HostSpec, probe: VersionProbe, out: string): HealthRow {
  const line = out.split('\n').find((l) => l.startsWith(`${probe.check}\t`));
  const said = line?.slice(probe.check.length + 1).trim() ?? '';
  const running = leadingVersion(said);
  if (!running) return { check: probe.check, host: host.name, ok: false, detail: said ? `no version in its answer: ${said}` : 'no answer' };
  const wanted = parseVersion(probe.wanted(host) ?? '');
  const behind = wanted && compareVersions(wanted, running) !== 0 ? ` (config wants ${wanted.tag}: bootstrap apply upgrades it)` : '';
  return { check: probe.check, host: host.name, ok: true, detail: `${running.tag}${behind}` };
}

/**
 * The skew rules on what the version rows say the hosts run: one row, ok with the versions seen, or
 * failed with each broken rule and its way forward. No row when no host said a version.
 */
export function skewRows(rows: readonly HealthRow[], waivers: SkewWaivers = {}): HealthRow[] {
  const byHost = new Map<string, ComponentVersions>();
  for (const r of rows) {
    const probe = VERSION_CHECKS.has(r.check) ? PROBES.find((p) => p.check === r.check) : undefined;
    const version = r.ok ? leadingVersion(r.detail) : undefined;
    if (!probe?.component || !version) continue;
    byHost.set(r.host, { ...byHost.get(r.host), [probe.component]: version });
  }
  if (byHost.size === 0) return [];
  const found = skewViolations(
    [...byHost].map(([host, versions]) => ({ host, versions })),
    waivers,
  );
  if (found.length === 0) return [{ check: SKEW_CHECK, host: '-', ok: true, detail: `within upstream's policy: ${seen(byHost)}` }];
  return found.map((f) => ({ check: SKEW_CHECK, host: f.hosts.join(', '), ok: false, detail: `${f.message} (rule ${f.rule}); fix: ${f.way}` }));
}

/** `kubelet v1.35.0, etcd v3.5.30`: each component's versions across the hosts. */
function seen(byHost: ReadonlyMap<string, ComponentVersions>): string {
  const tags = new Map<string, Set<string>>();
  for (const versions of byHost.values()) {
    for (const [component, v] of Object.entries(versions) as Array<[string, Version]>) tags.set(component, (tags.get(component) ?? new Set()).add(v.tag));
  }
  return [...tags].map(([c, t]) => `${c} ${[...t].join('/')}`).join(', ');
}
