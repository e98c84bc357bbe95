import { compareVersions, mustParseVersion, type Version } from './version.js';

/**
 * What kube-proxy's modes need of the node it runs on. Sources: kubernetes/website
 * content/en/docs/reference/node/kernel-version-requirements.md (nftables: kernel 5.13 and nft
 * 1.0.1 or later) and kubernetes/kubernetes pkg/proxy/ipvs/README.md (ipvs: the ip_vs modules, its
 * schedulers and conntrack loaded, ipset installed; ipvsadm to look at the tables).
 */

/** The kernel modules kube-proxy's ipvs mode uses: IPVS, its round-robin, weighted and source-hash schedulers, conntrack. */
export const IPVS_MODULES = ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack'] as const;

/** The oldest kernel (MAJOR.MINOR) and nft command kube-proxy's nftables mode runs with. */
export const NFTABLES_MODE_MINIMUM = { kernel: '5.13', nft: mustParseVersion('1.0.1') } as const;

/** `uname -r` (6.1.0-13-amd64, 5.14.0-427.el9.x86_64) as MAJOR.MINOR, patch 0; undefined when it is not one. */
export function kernelVersion(release: string): Version | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: 0, tag: `${m[1]}.${m[2]}` } : undefined;
}

/** Whether a kernel release is one kube-proxy's nftables mode runs on. */
export function kernelRunsNftablesMode(kernel: Version): boolean {
  return compareVersions(kernel, mustParseVersion(`${NFTABLES_MODE_MINIMUM.kernel}.0`)) >= 0;
}

/** `nft --version` (nftables v1.0.6 (Lester Gooch #5)): the nft version, undefined when it says none. */
export function nftVersion(text: string): Version | undefined {
  const m = /\bv?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), tag: `v${m[1]}.${m[2]}.${m[3]}` } : undefined;
}

export function nftRunsNftablesMode(nft: Version): boolean {
  return compareVersions(nft, NFTABLES_MODE_MINIMUM.nft) >= 0;
}
