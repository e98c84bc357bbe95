import { containerdSupports, containerdSupportText, type KubeVersion, type Version } from '../upstream/index.js';
import { leadingVersion } from './versions.js';

/**
 * Where a host's containerd, runc and Docker come from, chosen per host so that the default config
 * gives every supported OS a containerd that upstream supports under the cluster's Kubernetes
 * (containerd's own table, src/upstream/containerd.ts):
 *   distro  the release's own packages (Debian and Ubuntu: containerd, docker.io), where they are
 *           new enough: Debian 11-13 ship 1.4, 1.6 and 1.7.24, which no supported minor from 1.35
 *           takes (apt-cache policy against Debian's archive, 2026-12-07); EL carries none;
 *   docker  Docker's repositories (containerd.io, docker-ce, docker-ce-cli): DOCKER_APT_REPO on
 *           Debian and Ubuntu, DOCKER_YUM_REPO on EL;
 *   static  the release binaries (containerd, runc, Docker's static build), from the run's offline
 *           bundle or downloaded and checked like every other binary.
 */
export type RuntimeSource = 'distro' | 'docker' | 'static';

/**
 * What CONTAINER_RUNTIME_SOURCE asks for: `auto` the first of distro, docker and static that gives a
 * supported containerd; `package` the first of distro and docker; `docker` and `static` that one;
 * `bundle` is the older name of `static`.
 */
export type RuntimeSourceSetting = 'auto' | 'package' | 'docker' | 'static' | 'bundle';

/** What a package manager said it could install, when asked. */
export interface PackageQuery {
  /** Package name -> the version it would install. Undefined: it could not tell (no repoquery, no package lists). */
  candidates?: ReadonlyMap<string, string>;
  /** The query failed (a repository it could not read): its exit status and its last lines. */
  failure?: { exitCode: number; output: string };
}

/** A package source as a host offers it. */
export interface PackageOffer {
  /** Where it is, for messages: `Debian GNU/Linux 12's own packages`, `Docker's repository https://...`. */
  label: string;
  /** The packages it installs, containerd's first; none where the source has nothing for this OS. */
  packages: readonly string[];
  /** The property that says where it is, for a refusal (DOCKER_APT_REPO, DOCKER_YUM_REPO). */
  key?: string;
  /** Undefined where the host was not asked (its runtime is installed and supported). */
  query?: PackageQuery;
  /** When it cannot tell, take it as offering a supported containerd (Docker's repositories carry current releases). */
  trustedWhenUnknown?: boolean;
}

export interface RuntimeSituation {
  setting: RuntimeSourceSetting;
  kube: KubeVersion;
  /** What the host runs now. */
  installed: { containerd?: Version; docker: boolean; from?: RuntimeSource };
  distro: PackageOffer;
  docker: PackageOffer;
  /** The static binaries' containerd and where they come from: `from the offline bundle`, `downloaded`. */
  static: { containerd: Version; label: string };
  /**
   * CONTAINERD_ALLOW_UNSUPPORTED: when no source gives a containerd in upstream's table, take one
   * outside it (a distribution's build with backported fixes) instead of refusing, and say so.
   */
  allowUnsupported?: boolean;
}

export interface RuntimeChoice {
  source: RuntimeSource;
  /** The containerd this source gives the host, when known. */
  containerd?: Version;
  /** The packages to install (none for static). */
  packages: string[];
  /** Why this source, for the plan: one line. */
  why: string;
}

export interface RuntimeRefusal {
  message: string;
  hint: string;
  /** The property the refusal names. */
  key: string;
}

export type RuntimeDecision = { choice: RuntimeChoice } | { refused: RuntimeRefusal };

const ORDER: Record<RuntimeSourceSetting, readonly RuntimeSource[]> = {
  auto: ['distro', 'docker', 'static'],
  package: ['distro', 'docker'],
  docker: ['docker'],
  static: ['static'],
  bundle: ['static'],
};

/** Whether a containerd is taken under the situation's Kubernetes: upstream's table, or anything when the operator allowed it. */
type Accepts = (containerd: Version) => boolean;

/** One source, judged: what it would give, or why not. */
type Verdict = { ok: true; containerd?: Version; packages: string[]; said: string } | { ok: false; said: string };

/**
 * The source a host's runtime comes from. A runtime that is installed, supported and from a source
 * the setting allows stays where it came from (so a run decides the same way before and after it
 * installs, and the package query that costs a repository round trip is asked only when there is a
 * choice to make); otherwise the setting's sources are tried in order. An installed containerd that is too old and
 * would come from the same packages again is refused: installing them changes nothing.
 */
export function chooseRuntimeSource(s: RuntimeSituation): RuntimeDecision {
  const strict = decide(s, (containerd) => containerdSupports(s.kube, containerd));
  if ('choice' in strict || !s.allowUnsupported) return strict;
  // Only where nothing in upstream's table is on offer: a supported runtime always wins over an allowed one.
  const lenient = decide(s, () => true);
  return 'choice' in lenient ? { choice: { ...lenient.choice, why: `${lenient.choice.why}${outsideTable(s, lenient.choice.containerd)}` } } : strict;
}

/** The plan's warning for a containerd taken outside upstream's table: which row it misses, and the setting that let it in. */
function outsideTable(s: RuntimeSituation, containerd: Version | undefined): string {
  if (!containerd || containerdSupports(s.kube, containerd)) return '';
  return `; WARNING: containerd ${containerd.tag} is outside containerd's table for Kubernetes ${s.kube.major}.${s.kube.minor} (${containerdSupportText(s.kube)}), taken because CONTAINERD_ALLOW_UNSUPPORTED=true`;
}

function decide(s: RuntimeSituation, accepts: Accepts): RuntimeDecision {
  const allowed = ORDER[s.setting];
  const prefix = `CONTAINER_RUNTIME_SOURCE=${s.setting}`;
  const kept = keptRuntime(s, allowed, accepts);
  if (kept) return { choice: { ...kept, why: `${prefix}: ${kept.why}` } };

  const said: string[] = [];
  for (const source of allowed) {
    const verdict = judge(s, source, accepts);
    if (verdict.ok) {
      const { installed } = s;
      if (source !== 'static' && source === installed.from && installed.containerd && !accepts(installed.containerd)) {
        return { refused: tooOldInstalled(s, installed.containerd, source === 'distro' ? s.distro : s.docker) };
      }
      const reasons = said.length ? `: ${said.join('; ')}` : '';
      return { choice: { source, ...(verdict.containerd ? { containerd: verdict.containerd } : {}), packages: verdict.packages, why: `${prefix}: ${verdict.said}${reasons}` } };
    }
    said.push(verdict.said);
  }
  return { refused: nothingFits(s, said) };
}

/** The installed runtime, where it is complete, from a source the setting allows, and supported (static: at the configured version). */
function keptRuntime(s: RuntimeSituation, allowed: readonly RuntimeSource[], accepts: Accepts): RuntimeChoice | undefined {
  const { from, containerd, docker } = s.installed;
  if (!from || !docker || !containerd || !allowed.includes(from)) return undefined;
  if (from === 'static') {
    const verdict = judge(s, 'static', accepts);
    return verdict.ok ? { source: 'static', containerd: s.static.containerd, packages: [], why: `${verdict.said}, installed before` } : undefined;
  }
  if (!accepts(containerd)) return undefined;
  const offer = from === 'distro' ? s.distro : s.docker;
  return {
    source: from,
    containerd,
    packages: [...offer.packages],
    why: `containerd ${containerd.tag} from ${offer.label} is installed, and Kubernetes ${s.kube.tag} ${containerdSupports(s.kube, containerd) ? 'supports it' : 'runs with it'}`,
  };
}

function judge(s: RuntimeSituation, source: RuntimeSource, accepts: Accepts): Verdict {
  if (source === 'static') {
    const { containerd, label } = s.static;
    if (accepts(containerd)) return { ok: true, containerd, packages: [], said: `the static release binaries ${label} (containerd ${containerd.tag})` };
    return { ok: false, said: `the static release binaries' containerd ${containerd.tag} (CONTAINERD_VERSION) is not one that Kubernetes ${s.kube.tag} supports` };
  }
  const offer = source === 'distro' ? s.distro : s.docker;
  if (offer.packages.length === 0) return { ok: false, said: `${offer.label}: no containerd` };
  const query = offer.query;
  if (query?.failure) {
    const last = query.failure.output.split('\n').at(-1);
    return { ok: false, said: `${offer.label}: could not be read (exit ${query.failure.exitCode}${last ? `: ${last}` : ''})` };
  }
  if (!query?.candidates) {
    if (offer.trustedWhenUnknown) return { ok: true, packages: [...offer.packages], said: `${offer.label} (the host could not say which containerd is there)` };
    return { ok: false, said: `${offer.label}: the host could not say which containerd is there` };
  }
  const candidates = query.candidates;
  const missing = offer.packages.filter((p) => !candidates.has(p));
  if (missing.length) return { ok: false, said: `${offer.label}: no ${missing.join(', ')}` };
  const containerd = leadingVersion(candidates.get(offer.packages[0]!)!);
  if (!containerd || !accepts(containerd)) {
    return { ok: false, said: `${offer.label}: containerd ${containerd?.tag ?? candidates.get(offer.packages[0]!)}, which Kubernetes ${s.kube.tag} does not support` };
  }
  return { ok: true, containerd, packages: [...offer.packages], said: `${offer.label} (containerd ${containerd.tag})` };
}

function tooOldInstalled(s: RuntimeSituation, containerd: Version, offer: PackageOffer): RuntimeRefusal {
  const supported = containerdSupportText(s.kube);
  return {
    message: `containerd ${containerd.tag} (installed from ${offer.label}) is not one that Kubernetes ${s.kube.tag} supports (containerd's table: ${supported}), and installing the same packages changes nothing`,
    hint: `upgrade containerd on this host to ${supported} (e.g. apt-get install --only-upgrade ${offer.packages[0]} or yum update ${offer.packages[0]}), set CONTAINER_RUNTIME_SOURCE=static for the release binaries, or choose a KUBE_VERSION that supports ${containerd.tag}`,
    key: 'CONTAINER_RUNTIME_SOURCE',
  };
}

function nothingFits(s: RuntimeSituation, said: readonly string[]): RuntimeRefusal {
  const supported = containerdSupportText(s.kube);
  const only = ORDER[s.setting];
  const key = only.length === 1 && only[0] === 'static' ? 'CONTAINERD_VERSION' : only.length === 1 && only[0] === 'docker' && s.docker.key ? s.docker.key : 'CONTAINER_RUNTIME_SOURCE';
  const fixes = [
    ...(only.includes('docker') && s.docker.key ? [`point ${s.docker.key} at a repository (or mirror) this host reaches`] : []),
    ...(only.includes('static') ? [`set CONTAINERD_VERSION to a release it supports (${supported})`] : ['set CONTAINER_RUNTIME_SOURCE=auto or static (the release binaries)']),
    `or choose a KUBE_VERSION that a containerd on offer supports`,
    ...(s.allowUnsupported ? [] : [`or, last, for a distribution's build with backported fixes, CONTAINERD_ALLOW_UNSUPPORTED=true (takes one outside the table, with a warning)`]),
  ];
  return {
    message: `no containerd that Kubernetes ${s.kube.tag} supports (containerd's table: ${supported}) comes from CONTAINER_RUNTIME_SOURCE=${s.setting}: ${said.join('; ')}`,
    hint: fixes.join(', '),
    key,
  };
}
