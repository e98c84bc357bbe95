import { shJoin } from '../ssh/quote.js';
import { checkRepoName, type GenericPackage, type OsAdapter } from './adapter.js';

const NAMES: Record<GenericPackage, string[]> = {
  iptables: ['iptables'],
  conntrack: ['conntrack'],
  socat: ['socat'],
  ipset: ['ipset'],
  ebtables: ['ebtables'],
  curl: ['curl'],
  containerd: ['containerd'],
  docker: ['docker.io'],
  tar: ['tar'],
  gzip: ['gzip'],
  kmod: ['kmod'],
  procps: ['procps'],
  diffutils: ['diffutils'],
  iproute: ['iproute2'],
  ipvsadm: ['ipvsadm'],
  nftables: ['nftables'],
  // Debian 13's docker.io (26.1.5+dfsg1-9) and later left the docker command to docker-cli, which it
  // only recommends; older ones (Debian 12's) hold it themselves, and their archives have no such package.
  'docker-cli': ['docker-cli'],
};

/** Package lists exist: without them (a host that never ran `apt-get update`) apt knows no candidate yet. */
const HAS_LISTS = 'ls /var/lib/apt/lists/ 2>/dev/null | grep -q Packages';

/** Debian and Ubuntu: apt, ufw (or firewalld when someone installed it), no SELinux. */
export const debianAdapter: OsAdapter = {
  family: 'debian',
  packageManager: 'apt',
  firewallServices: ['ufw', 'firewalld'],
  managesSelinux: false,
  packageNames: (generic) => NAMES[generic],
  probePackages: (names) => `dpkg-query -W -f='\${Package} \${db:Status-Abbrev}\\n' ${shJoin(names)} 2>/dev/null | awk '$2 == "ii" {print $1, "ii"}'`,
  installPackages: (names) => {
    // Keep our config files if a package ships its own (we write them), never prompt, and refresh
    // the package lists only when the first attempt cannot find something. One line: a failure
    // report names a step by its first line, which must be the install, not an `export`.
    const install = `DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${shJoin(names)}`;
    return `${install} || { apt-get update -q && ${install}; }`;
  },
  installFailureHint: 'check that the host reaches its package repositories (or a local mirror)',
  // purge: the package's configuration is kubestrap's too. The check after it is dpkg's own view.
  removePackages: (names) => `DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ${shJoin(names)} && ! dpkg-query -W -f='\${db:Status-Abbrev}\\n' ${shJoin(names)} 2>/dev/null | grep -q '^ii'`,
  repoFilePath: (name) => `/etc/apt/sources.list.d/${checkRepoName(name)}.list`,
  // Debian and Ubuntu carry docker.io and containerd in their own archive: no repository to add.
  candidateVersions: (names) =>
    `if ${HAS_LISTS}; then apt-cache policy ${shJoin(names)} 2>/dev/null | awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /Candidate:/ && $2 != "(none)" {print p, $2}'; echo 'rc 0'; else echo 'rc unknown'; fi`,
  repoFile: () => undefined,
};
