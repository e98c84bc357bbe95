import { shJoin } from '../ssh/quote.js';
import type { GenericPackage, OsAdapter } from './adapter.js';

const NAMES: Record<GenericPackage, string[]> = {
  iptables: ['iptables'],
  conntrack: ['conntrack-tools'],
  socat: ['socat'],
  ipset: ['ipset'],
  ebtables: ['ebtables'],
  curl: ['curl'],
};

/** CentOS, RHEL, Rocky, Alma, Oracle Linux 7-9: yum or dnf, firewalld, SELinux. */
export function elAdapter(packageManager: 'yum' | 'dnf'): OsAdapter {
  return {
    family: 'el',
    firewallServices: ['firewalld'],
    managesSelinux: true,
    packageNames: (generic) => NAMES[generic],
    // By what packages provide, not by name: EL9 ships iptables as iptables-nft, which provides it.
    probePackages: (names) => `for p in ${shJoin(names)}; do rpm -q --whatprovides "$p" >/dev/null 2>&1 && echo "$p ii"; done`,
    installPackages: (names) => `${packageManager} install -y -q ${shJoin(names)}`,
  };
}
