import type { HostSpec } from '../config/cluster-spec.js';
import { defineFact, readFact, type Fact } from '../engine/facts.js';
import { moduleFilePattern } from '../engine/kinds/kernel-module.js';
import { HostError } from '../errors.js';
import type { ClusterContext, ClusterHost } from '../phases/context.js';
import { shq } from '../ssh/quote.js';
import { IPVS_MODULES, kernelRunsNftablesMode, kernelVersion, NFTABLES_MODE_MINIMUM, nftRunsNftablesMode, nftVersion, type Version } from '../upstream/index.js';

/**
 * What KUBE_PROXY_MODE needs of a host that runs kube-proxy, read before anything changes: ipvs
 * the ip_vs modules (which the OS phase loads from modules-load.d), nftables a 5.13 kernel and nft
 * 1.0.1 (which the OS phase installs where it is missing, and checks once it is there).
 */

export type ModuleState = 'loaded' | 'available' | 'missing';

/**
 * Whether the kernel can load each of kube-proxy's ipvs modules: loaded (its folder in
 * /sys/module, no process), built in or a module file (modules.builtin, modules.dep: what modprobe
 * reads), or neither.
 */
export const IPVS_MODULES_FACT = defineFact(
  'ipvs-modules',
  [
    'ks_k="/lib/modules/$(uname -r)"',
    ...IPVS_MODULES.map(
      (m) =>
        `if [ -d ${shq(`/sys/module/${m}`)} ]; then echo ${m} loaded; elif grep -qE ${shq(`${moduleFilePattern(m)}(:|$)`)} "$ks_k/modules.builtin" "$ks_k/modules.dep" 2>/dev/null; then echo ${m} available; else echo ${m} missing; fi`,
    ),
  ].join('\n'),
  (out): Map<string, ModuleState> | undefined => {
    if (out === undefined) return undefined;
    const states = out.split('\n').map((l) => l.trim().split(' '));
    return new Map(states.filter(([m, state]) => IPVS_MODULES.some((x) => x === m) && (state === 'loaded' || state === 'available' || state === 'missing')) as Array<[string, ModuleState]>);
  },
);

/** The nft command's version, `absent` without one. */
export const NFT_FACT = defineFact('nft-version', 'if command -v nft >/dev/null 2>&1; then nft --version 2>&1 | head -n 1; else echo absent; fi', (out): Version | 'absent' | undefined => {
  if (out === undefined) return undefined;
  return out.trim() === 'absent' ? 'absent' : (nftVersion(out) ?? 'absent');
});

/** kube-proxy runs where the kubelet does. */
export function runsKubeProxy(host: HostSpec): boolean {
  return host.roles.includes('worker');
}

/** The facts the cluster's kube-proxy mode needs read on `host`. */
export function kubeProxyModeFacts(host: HostSpec): ReadonlyArray<Fact<unknown, HostSpec>> {
  if (!runsKubeProxy(host)) return [];
  if (host.values.KUBE_PROXY_MODE === 'ipvs') return [IPVS_MODULES_FACT];
  if (host.values.KUBE_PROXY_MODE === 'nftables') return [NFT_FACT];
  return [];
}

/** Hosts that would run kube-proxy in a mode they cannot run: refused before anything changes. */
export function kubeProxyModeProblems(ctx: ClusterContext): HostError[] {
  return ctx.hosts
    .filter((h) => runsKubeProxy(h.host))
    .flatMap((h) => (h.host.values.KUBE_PROXY_MODE === 'ipvs' ? ipvsProblems(h) : h.host.values.KUBE_PROXY_MODE === 'nftables' ? nftablesProblems(h) : []));
}

function ipvsProblems({ host, facts }: ClusterHost): HostError[] {
  const states = readFact(facts, IPVS_MODULES_FACT);
  const missing = IPVS_MODULES.filter((m) => states?.get(m) === 'missing');
  if (missing.length === 0) return [];
  return [
    new HostError(
      host.name,
      `kube-proxy's ipvs mode needs the kernel module${missing.length === 1 ? '' : 's'} ${missing.join(', ')}, which kernel ${facts.kernel} cannot load: neither loaded, built in, nor a module file under /lib/modules/${facts.kernel}`,
      { resource: 'KUBE_PROXY_MODE' },
      `install the package of this kernel that holds them (Ubuntu: linux-modules-extra-${facts.kernel}) or boot a kernel with IPVS, or set KUBE_PROXY_MODE=nftables (kernel ${NFTABLES_MODE_MINIMUM.kernel}+) or iptables`,
    ),
  ];
}

function nftablesProblems({ host, facts }: ClusterHost): HostError[] {
  const problems: HostError[] = [];
  const kernel = kernelVersion(facts.kernel);
  const otherModes = 'or set KUBE_PROXY_MODE=iptables';
  if (kernel && !kernelRunsNftablesMode(kernel)) {
    problems.push(
      new HostError(
        host.name,
        `kube-proxy's nftables mode needs Linux ${NFTABLES_MODE_MINIMUM.kernel} or later, and this host runs ${facts.kernel}`,
        { resource: 'KUBE_PROXY_MODE' },
        `boot a kernel ${NFTABLES_MODE_MINIMUM.kernel} or later on ${host.name}, ${otherModes}`,
      ),
    );
  }
  const nft = readFact(facts, NFT_FACT);
  if (nft && nft !== 'absent' && !nftRunsNftablesMode(nft)) {
    problems.push(
      new HostError(
        host.name,
        `kube-proxy's nftables mode needs nft ${NFTABLES_MODE_MINIMUM.nft.tag} or later, and this host has nft ${nft.tag}`,
        { resource: 'KUBE_PROXY_MODE' },
        `upgrade the nftables package on ${host.name} to ${NFTABLES_MODE_MINIMUM.nft.tag} or later, ${otherModes}`,
      ),
    );
  }
  return problems;
}

/**
 * Where nft was not installed yet when the host was read, the OS phase installs it and then checks
 * its version with this (a `command` resource: the check passes once a new enough nft is there).
 */
export function nftVersionCheck(): { check: string; run: string } {
  const { major, minor, patch } = NFTABLES_MODE_MINIMUM.nft;
  // `sort -V` puts the older of the two first: nft is new enough when the minimum sorts first.
  const atLeast = `ks_v=$(nft --version 2>/dev/null | sed -n 's/.*v\\([0-9][0-9.]*\\).*/\\1/p' | head -n 1); [ -n "$ks_v" ] && [ "$(printf '%s\\n' ${major}.${minor}.${patch} "$ks_v" | sort -V | head -n 1)" = ${major}.${minor}.${patch} ]`;
  return {
    check: atLeast,
    run: `${atLeast} || { echo "kube-proxy's nftables mode needs nft ${NFTABLES_MODE_MINIMUM.nft.tag} or later; this host's package manager installed nft \${ks_v:-(none)}" >&2; exit 1; }`,
  };
}
