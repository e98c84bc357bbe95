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
    probePackages: (names) => `rpm -q --qf '%{NAME} ii\\n' ${shJoin(names)} 2>/dev/null | grep ' ii$'`,
    installPackages: (names) => `${packageManager} install -y -q ${shJoin(names)}`,
  };
}
