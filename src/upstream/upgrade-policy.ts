import { containerdSupports, containerdSupportText } from './containerd.js';
import { KUBE_MINORS } from './kubernetes.js';
import { compareVersions, mustParseVersion, type Version } from './version.js';

/**
 * Upstream's rules for changing versions, in one place: which steps a version edit may take and
 * which mixes of versions a cluster may run. Plain data in, plain refusals out; phases turn them
 * into errors before any host changes, and `health` uses the skew rules on what hosts run.
 *
 * Sources, read 2026-12-07:
 * - kubernetes/website content/en/releases/version-skew-policy.md: kube-apiserver instances within
 *   one minor of each other; kubelet and kube-proxy never newer than kube-apiserver and up to three
 *   minors older (1.28 on); controller-manager and scheduler never newer, up to one minor older;
 *   "upgrading from 1.N to 1.N+2 is not supported": one minor at a time, the control plane first.
 *   Downgrades are not supported across minors (a patch back within a minor is).
 * - etcd-io/etcd Documentation/upgrades (upgrade_3_5.md, upgrade_3_6.md): one minor at a time,
 *   member by member; 3.6 needs every 3.5 member at 3.5.26 or later first (upstream-facts.md);
 *   etcd's own `downgrade` procedure is not one kubestrap runs.
 * - containerd RELEASES.md "Kubernetes Support" (containerd.ts): the runtime a node runs must be one
 *   upstream supports under the Kubernetes it will run.
 */

/** What kubestrap upgrades as a unit: the API servers' hosts share one version, the nodes' kubelet and kube-proxy another. */
export type UpgradeComponent = 'etcd' | 'control-plane' | 'node' | 'containerd';
export const UPGRADE_COMPONENTS: readonly UpgradeComponent[] = ['etcd', 'control-plane', 'node', 'containerd'];

export type ComponentVersions = Partial<Record<UpgradeComponent, Version>>;

export interface HostVersions {
  host: string;
  /** What the host runs now (its record); a component it does not run yet is absent. */
  running: ComponentVersions;
  /** What the config wants it to run once the run is over; a component it will not run is absent. */
  wanted: ComponentVersions;
}

/** The rules, by the name a refusal gives. */
export type SkewRule =
  | 'kubernetes-minor-skip'
  | 'kubernetes-downgrade'
  | 'apiserver-spread'
  | 'control-plane-newer-than-apiserver'
  | 'kubelet-newer-than-apiserver'
  | 'kubelet-too-old'
  | 'etcd-minor-skip'
  | 'etcd-downgrade'
  | 'etcd-3.5-too-old-for-3.6'
  | 'containerd-unsupported';

/** One broken rule: which, where, what is wrong and the way forward. */
export interface SkewRefusal {
  rule: SkewRule;
  hosts: string[];
  /** Which setting the way forward changes. */
  key: 'KUBE_VERSION' | 'ETCD_VERSION' | 'CONTAINERD_VERSION';
  message: string;
  way: string;
}

/** kubelet and kube-proxy may be this many minors older than kube-apiserver (1.28 on). */
export const NODE_MAX_MINORS_BEHIND = 3;

/** Before this etcd minor, every member of the one before must run at least the version given. */
const ETCD_UPGRADE_FLOOR: Readonly<Record<number, string>> = { 6: 'v3.5.26' };

/** What the operator waived: CONTAINERD_ALLOW_UNSUPPORTED takes a containerd outside upstream's table (see src/runtime/source.ts). */
export interface SkewWaivers {
  containerdUnsupported?: boolean;
}

/** Every refusal of a version edit: its steps (running → wanted, per host) and the skew the cluster would have after it. */
export function upgradeRefusals(hosts: readonly HostVersions[], waivers: SkewWaivers = {}): SkewRefusal[] {
  return [
    ...stepRefusals(hosts),
    ...skewViolations(
      hosts.map((h) => ({ host: h.host, versions: h.wanted })),
      waivers,
    ),
  ];
}

/** The step rules: one Kubernetes minor at a time, no downgrade across minors; etcd likewise, along its path. */
function stepRefusals(hosts: readonly HostVersions[]): SkewRefusal[] {
  const kube = (['control-plane', 'node'] as const).flatMap((c) => minorSteps(hosts, c, kubeStep));
  return [...kube, ...minorSteps(hosts, 'etcd', etcdStep), ...etcdFloor(hosts)];
}

type StepRule = (from: Version, to: Version, hosts: string[]) => SkewRefusal | undefined;

/** Hosts grouped by (from, to) of one component, each group judged once, so a refusal names every host it concerns. */
function minorSteps(hosts: readonly HostVersions[], component: UpgradeComponent, rule: StepRule): SkewRefusal[] {
  const groups = new Map<string, { from: Version; to: Version; hosts: string[] }>();
  for (const h of hosts) {
    const from = h.running[component];
    const to = h.wanted[component];
    if (!from || !to) continue;
    const key = `${from.tag}>${to.tag}`;
    groups.set(key, { from, to, hosts: [...(groups.get(key)?.hosts ?? []), h.host] });
  }
  return [...groups.values()].flatMap((g) => rule(g.from, g.to, g.hosts) ?? []);
}

/** What tells one project's version steps apart: its setting, its rules' names and words. */
interface Stepping {
  project: string;
  key: 'KUBE_VERSION' | 'ETCD_VERSION';
  skip: SkewRule;
  downgrade: SkewRule;
  /** Why a skip is refused: `upstream upgrades one minor at a time`. */
  oneAtATime: string;
  /** Why a downgrade is, after "is a downgrade across minors". */
  noDowngrade: (from: Version, to: Version) => string;
  /** The version to stop at on the way. */
  intermediate: (from: Version) => string;
  /** How to go back instead, after "keep KEY at a vX.Y.x release". */
  goBack: string;
}

/** One minor at a time and never back across one, worded for the project. */
function minorStep(p: Stepping): StepRule {
  return (from, to, hosts) => {
    const next = from.minor + 1;
    if (to.major === from.major && to.minor > next) {
      const skipped = to.minor - next === 1 ? 'a minor' : `${to.minor - next} minors`;
      return {
        rule: p.skip,
        hosts,
        key: p.key,
        message: `${p.project} ${from.tag} to ${to.tag} skips ${skipped}: ${p.oneAtATime}`,
        way: `set ${p.key}=${p.intermediate(from)} and apply, then ${to.tag}`,
      };
    }
    if (compareMinor(to, from) >= 0) return undefined;
    return {
      rule: p.downgrade,
      hosts,
      key: p.key,
      message: `${p.project} ${from.tag} to ${to.tag} is a downgrade across minors, ${p.noDowngrade(from, to)}`,
      way: `keep ${p.key} at a v${from.major}.${from.minor}.x release (a patch back within the minor is allowed), ${p.goBack}`,
    };
  };
}

const kubeStep = minorStep({
  project: 'Kubernetes',
  key: 'KUBE_VERSION',
  skip: 'kubernetes-minor-skip',
  downgrade: 'kubernetes-downgrade',
  oneAtATime: 'upstream upgrades one minor at a time',
  noDowngrade: () => 'which upstream does not support',
  intermediate: intermediateKube,
  goBack: "or restore an etcd snapshot taken before the upgrade (bootstrap etcd restore) with the old version's binaries",
});

const etcdStep = minorStep({
  project: 'etcd',
  key: 'ETCD_VERSION',
  skip: 'etcd-minor-skip',
  downgrade: 'etcd-downgrade',
  oneAtATime: 'etcd upgrades one minor at a time (3.4 → 3.5 → 3.6 → 3.7)',
  noDowngrade: (from, to) => `and a member's data of ${from.major}.${from.minor} is not read by ${to.major}.${to.minor}`,
  intermediate: intermediateEtcd,
  goBack: 'or restore an etcd snapshot taken before the upgrade (bootstrap etcd restore)',
});

/** A minor with a floor (3.6) is refused while any member runs the minor before it below that floor. */
function etcdFloor(hosts: readonly HostVersions[]): SkewRefusal[] {
  return [...new Set(hosts.flatMap((h) => (h.wanted.etcd ? [h.wanted.etcd.minor] : [])))].flatMap((minor) => {
    const floorTag = ETCD_UPGRADE_FLOOR[minor];
    if (!floorTag) return [];
    const floor = mustParseVersion(floorTag);
    const below = hosts.filter((h) => h.running.etcd && h.running.etcd.minor === floor.minor && compareVersions(h.running.etcd, floor) < 0);
    if (below.length === 0) return [];
    return [
      {
        rule: 'etcd-3.5-too-old-for-3.6' as const,
        hosts: below.map((h) => h.host),
        key: 'ETCD_VERSION' as const,
        message: `etcd 3.${minor} needs every 3.${floor.minor} member at ${floor.tag} or later first; ${below.map((h) => `${h.host} runs ${h.running.etcd!.tag}`).join(', ')}`,
        way: `set ETCD_VERSION=${floor.tag} (or a later 3.${floor.minor} release) and apply, then 3.${minor}`,
      },
    ];
  });
}

/** The skew rules on one set of versions (what hosts run, or what they would run after a run). */
export function skewViolations(hosts: ReadonlyArray<{ host: string; versions: ComponentVersions }>, waivers: SkewWaivers = {}): SkewRefusal[] {
  const runtime = waivers.containerdUnsupported ? [] : containerdViolations(hosts);
  const apiservers = hosts.flatMap((h) => (h.versions['control-plane'] ? [{ host: h.host, v: h.versions['control-plane'] }] : []));
  if (apiservers.length === 0) return runtime;
  const oldest = apiservers.reduce((a, b) => (compareMinor(b.v, a.v) < 0 ? b : a));
  const newest = apiservers.reduce((a, b) => (compareMinor(b.v, a.v) > 0 ? b : a));
  const out: SkewRefusal[] = [];
  if (newest.v.minor - oldest.v.minor > 1) {
    out.push({
      rule: 'apiserver-spread',
      hosts: apiservers.map((a) => a.host),
      key: 'KUBE_VERSION',
      message: `the API servers would run ${oldest.v.tag} (${oldest.host}) and ${newest.v.tag} (${newest.host}): upstream allows one minor between them`,
      way: `give every master a KUBE_VERSION within one minor of the others (check the inventory's per-host KUBE_VERSION overrides)`,
    });
  }
  const newerThanOldest = (v: Version) => compareMinor(v, oldest.v) > 0;
  const controlNewer = apiservers.filter((a) => newerThanOldest(a.v)).map((a) => a.host);
  if (controlNewer.length) {
    out.push({
      rule: 'control-plane-newer-than-apiserver',
      hosts: controlNewer,
      key: 'KUBE_VERSION',
      message: `controller-manager and scheduler on ${controlNewer.join(', ')} would be newer than the API server of ${oldest.host} (${oldest.v.tag}), which they may talk to`,
      way: `upgrade every master in the same run: drop the per-host KUBE_VERSION overrides that hold ${oldest.host} back`,
    });
  }
  const nodes = hosts.flatMap((h) => (h.versions.node ? [{ host: h.host, v: h.versions.node }] : []));
  const newerNodes = nodes.filter((n) => newerThanOldest(n.v));
  if (newerNodes.length) {
    out.push({
      rule: 'kubelet-newer-than-apiserver',
      hosts: newerNodes.map((n) => n.host),
      key: 'KUBE_VERSION',
      message: `kubelet and kube-proxy ${newerNodes[0]!.v.tag} would be newer than the oldest API server (${oldest.v.tag} on ${oldest.host}): upstream never lets a node run ahead of the control plane`,
      way: `upgrade the masters first: set their KUBE_VERSION to ${newerNodes[0]!.v.tag} too (the run upgrades them before the nodes), or keep the nodes at ${oldest.v.major}.${oldest.v.minor}`,
    });
  }
  const oldNodes = nodes.filter((n) => newest.v.minor - n.v.minor > NODE_MAX_MINORS_BEHIND);
  if (oldNodes.length) {
    out.push({
      rule: 'kubelet-too-old',
      hosts: oldNodes.map((n) => n.host),
      key: 'KUBE_VERSION',
      message: `kubelet and kube-proxy on ${oldNodes.map((n) => `${n.host} (${n.v.tag})`).join(', ')} would be more than ${NODE_MAX_MINORS_BEHIND} minors older than the API server ${newest.v.tag}`,
      way: `upgrade those nodes first (their per-host KUBE_VERSION), one minor at a time, to within ${NODE_MAX_MINORS_BEHIND} minors of ${newest.v.tag}`,
    });
  }
  return [...out, ...runtime];
}

/** A node's containerd must be one upstream supports under the Kubernetes the node runs. */
function containerdViolations(hosts: ReadonlyArray<{ host: string; versions: ComponentVersions }>): SkewRefusal[] {
  return hosts.flatMap((h) => {
    const { node, containerd } = h.versions;
    if (!node || !containerd || containerdSupports(node, containerd)) return [];
    return [
      {
        rule: 'containerd-unsupported' as const,
        hosts: [h.host],
        key: 'CONTAINERD_VERSION' as const,
        message: `containerd ${containerd.tag} is older than Kubernetes ${node.major}.${node.minor} supports (containerd's RELEASES.md: ${containerdSupportText(node)})`,
        way: `upgrade containerd first: CONTAINERD_VERSION (or the package the host takes) at ${containerdSupportText(node)}, applied before KUBE_VERSION moves`,
      },
    ];
  });
}

function compareMinor(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor;
}

/** The release of the next minor to stop at: its pinned patch when kubestrap pins one, else its .0. */
export function intermediateKube(from: Version): string {
  const next = KUBE_MINORS.find((m) => m.minor === from.minor + 1);
  const pinned = Object.keys(next?.tarballs ?? {})
    .map(mustParseVersion)
    .sort((a, b) => compareVersions(b, a))[0];
  return pinned?.tag ?? `v${from.major}.${from.minor + 1}.0`;
}

/** The next etcd minor to stop at, said with its floor where the minor after it has one. */
export function intermediateEtcd(from: Version): string {
  const floor = ETCD_UPGRADE_FLOOR[from.minor + 2];
  return floor ?? `v${from.major}.${from.minor + 1}.x`;
}
