/**
 * What differs between Linux families for the things a provisioner touches. Phases ask the adapter;
 * they never test the family themselves.
 */
export type OsFamily = 'el' | 'debian';

/** Packages by what they are for; each family knows its own names. */
export type GenericPackage = 'iptables' | 'conntrack' | 'socat' | 'ipset' | 'ebtables' | 'curl';

export interface OsAdapter {
  readonly family: OsFamily;
  /** Firewall services this family may run; all are stopped and disabled. */
  readonly firewallServices: readonly string[];
  readonly managesSelinux: boolean;
  packageNames(generic: GenericPackage): string[];
  /** Shell that prints `NAME ii` for each of `names` that is installed, nothing for the others. */
  probePackages(names: readonly string[]): string;
  installPackages(names: readonly string[]): string;
}
