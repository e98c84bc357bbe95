import { createHash } from 'node:crypto';
import { shJoin, shq } from '../ssh/quote.js';
import { checkRepoName, type GenericPackage, type OsAdapter, type PackageRepo } from './adapter.js';
import { aptCandidateQuery } from './apt-query.js';

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

const KEYRINGS = '/etc/apt/keyrings';

/** The key of a repository, named after its URL: a new URL is a new file, fetched anew. */
function keyringPath(repo: PackageRepo): string {
  return `${KEYRINGS}/${checkRepoName(repo.fileName)}-${createHash('sha256').update(repo.gpgKey).digest('hex').slice(0, 12)}.asc`;
}

/** One line as apt reads it (Docker's own instructions write the same), signed by the key kubestrap fetched. */
function aptSourceFile(repo: PackageRepo): string {
  if (!repo.suite || !repo.arch) throw new Error(`apt repository ${repo.id} has no suite or architecture for this host`);
  return `# Managed by kubestrap; change it through config.properties.\ndeb [arch=${repo.arch} signed-by=${keyringPath(repo)}] ${repo.baseUrl} ${repo.suite} ${repo.components ?? 'stable'}\n`;
}

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
  candidateVersions: (names, repos) => aptCandidateQuery(names, repos),
  repoFile: (repo) => ({ path: debianAdapter.repoFilePath(repo.fileName), content: aptSourceFile(repo) }),
  // apt's own downloader (no curl needed), into a file of its own: a reader never sees half a key.
  repoKey: (repo) => {
    const path = keyringPath(repo);
    const part = shq(`${path}.part`);
    return { path, fetch: `install -d -m 0755 -- ${KEYRINGS} && /usr/lib/apt/apt-helper download-file ${shq(repo.gpgKey)} ${part} && chmod 0644 -- ${part} && mv -f -- ${part} ${shq(path)}` };
  },
};
