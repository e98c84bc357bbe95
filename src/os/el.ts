import { shJoin, shq } from '../ssh/quote.js';
import { checkRepoName, type GenericPackage, type OsAdapter, type PackageRepo } from './adapter.js';

export type ElMajor = 7 | 8 | 9 | 10;

const COMMON: Record<Exclude<GenericPackage, 'iptables' | 'ebtables'>, string[]> = {
  conntrack: ['conntrack-tools'],
  socat: ['socat'],
  ipset: ['ipset'],
  curl: ['curl'],
  containerd: ['containerd.io'],
  docker: ['docker-ce', 'docker-ce-cli'],
  tar: ['tar'],
  gzip: ['gzip'],
  kmod: ['kmod'],
  procps: ['procps-ng'],
  diffutils: ['diffutils'],
  iproute: ['iproute'],
  ipvsadm: ['ipvsadm'],
  nftables: ['nftables'],
  // docker-ce-cli is one of docker's.
  'docker-cli': [],
};

/**
 * Where the releases differ: EL 8 moved ebtables into iptables-ebtables; EL 9 and 10 ship iptables,
 * ebtables and arptables as one package, iptables-nft (the nftables backend; EL 10 has no legacy
 * iptables at all).
 */
const NAMES: Record<ElMajor, Record<GenericPackage, string[]>> = {
  7: { ...COMMON, iptables: ['iptables'], ebtables: ['ebtables'] },
  8: { ...COMMON, iptables: ['iptables'], ebtables: ['iptables-ebtables'] },
  9: { ...COMMON, iptables: ['iptables-nft'], ebtables: ['iptables-nft'] },
  10: { ...COMMON, iptables: ['iptables-nft'], ebtables: ['iptables-nft'] },
};

const REPO_DIR = '/etc/yum.repos.d';

/**
 * The repositories a host has enabled, one `  id: url` line each, read from the .repo files as yum
 * and dnf read them (a section is enabled unless it says otherwise). Reading files costs nothing;
 * `repolist` would contact every repository again.
 */
const ENABLED_REPOS_AWK = [
  'function flush() { if (id != "" && on) printf "  %s: %s\\n", id, (url != "" ? url : "(no baseurl, mirrorlist or metalink)") }',
  '/^\\[.*\\]/ { flush(); id = substr($0, 2, length($0) - 2); on = 1; url = ""; next }',
  '/^enabled[ \\t]*=/ { v = tolower($0); sub(/^[^=]*=[ \\t]*/, "", v); on = (v ~ /^(1|true|yes)/); next }',
  '/^(baseurl|mirrorlist|metalink)[ \\t]*=/ { if (url == "") { url = $0; sub(/^[^=]*=[ \\t]*/, "", url) } }',
  'END { flush() }',
].join('\n');

/**
 * Installs and then checks with rpm, because EL 7's yum exits 0 when a name matches no package
 * (skip_missing_names_on_install). The first line is the install itself: a failure report names
 * a step by its first line.
 */
function installScript(manager: 'yum' | 'dnf', names: readonly string[]): string {
  return [
    `${manager} install -y -q ${shJoin(names)}`,
    'pm_rc=$? missing=',
    `for p in ${shJoin(names)}; do rpm -q --whatprovides "$p" >/dev/null 2>&1 || missing="$missing $p"; done`,
    '[ "$pm_rc" -eq 0 ] && [ -z "$missing" ] && exit 0',
    `echo "${manager} exited $pm_rc; not installed:\${missing:- none (a package script failed?)}"`,
    `echo "repositories enabled on this host (${REPO_DIR}):"`,
    `cat ${REPO_DIR}/*.repo 2>/dev/null | awk ${shq(ENABLED_REPOS_AWK)} | grep . || echo '  none'`,
    'exit 1',
  ].join('\n');
}

/** CentOS, RHEL, Rocky, Alma, Oracle Linux 7-10: yum (7) or dnf (8 and later), firewalld, SELinux. */
export function elAdapter(major: ElMajor, packageManager: 'yum' | 'dnf'): OsAdapter {
  return {
    family: 'el',
    packageManager,
    firewallServices: ['firewalld'],
    managesSelinux: true,
    packageNames: (generic) => NAMES[major][generic],
    // By what packages provide, not by name: a name may be provided by another package (iptables by iptables-nft).
    probePackages: (names) => `for p in ${shJoin(names)}; do rpm -q --whatprovides "$p" >/dev/null 2>&1 && echo "$p ii"; done`,
    installPackages: (names) => installScript(packageManager, names),
    installFailureHint: `make the packages available in one of the repositories listed (or add a .repo file that has them to ${REPO_DIR}/), then run again`,
    // By name: removing what provides a capability (iptables) could take a package kubestrap never installed.
    removePackages: (names) => `${packageManager} remove -y -q ${shJoin(names)} && [ -z "$(rpm -q --qf '%{NAME}\\n' ${shJoin(names)} 2>/dev/null | grep -v 'is not installed')" ]`,
    repoFilePath: (name) => `${REPO_DIR}/${checkRepoName(name)}.repo`,
    candidateVersions: (names, repos) => candidateQuery(packageManager, names, repos ?? []),
    repoFile: (repo) => ({ path: `${REPO_DIR}/${checkRepoName(repo.fileName)}.repo`, content: `# Managed by kubestrap; change it through config.properties.\n${yumRepoFile(repo)}` }),
    // yum and dnf fetch the key from the file's gpgkey= themselves.
    repoKey: () => undefined,
  };
}

export interface YumRepo {
  /** The section id, also the file name: /etc/yum.repos.d/<id>.repo. */
  id: string;
  name: string;
  /** May use $releasever and $basearch, which yum and dnf fill in. */
  baseUrl: string;
  /** The key its packages are signed with: signatures are always checked. */
  gpgKey: string;
}

/** A .repo file for one repository, as yum and dnf read it. */
export function yumRepoFile(repo: YumRepo): string {
  return [`[${checkRepoName(repo.id)}]`, `name=${repo.name}`, `baseurl=${repo.baseUrl}`, 'enabled=1', 'gpgcheck=1', `gpgkey=${repo.gpgKey}`, ''].join('\n');
}

/**
 * Asks the package manager what it could install, from `repos` alone when given: `--repofrompath`
 * reads a repository by URL, so the question is answered before kubestrap writes the repo file.
 * The URLs' `$releasever` and `$basearch` are filled in as yum would, from os-release and uname.
 * EL 7's yum has no repoquery of its own: yum-utils' `repoquery` answers there, a dnf-based yum
 * answers itself, or nobody does (and nothing is refused for it). A failure's last lines follow
 * `rc N`, each behind `| `, so none can pass for a line of the caller's.
 */
function candidateQuery(manager: 'yum' | 'dnf', names: readonly string[], repos: readonly PackageRepo[]): string {
  const ids = repos.map((r) => `kubestrap-${r.id}`);
  // dnf names the repositories to read --repo; yum-utils' repoquery names them --repoid.
  const from = (option: 'repo' | 'repoid') => ids.map((id, i) => ` --repofrompath="${id},$ks_url${i}"`).join('') + ids.map((id) => ` --${option}=${id}`).join('');
  const run = (query: string) => [
    `  ks_out=$(${query} --qf '%{name} %{version}\n' ${shJoin(names)} 2>&1); ks_rc=$?`,
    `  [ "$ks_rc" -eq 0 ] && printf '%s\n' "$ks_out" | awk 'NF == 2' | sort -u`,
    '  echo "rc $ks_rc"',
    `  [ "$ks_rc" -eq 0 ] || printf '%s\n' "$ks_out" | tail -n 5 | sed 's/^/| /'`,
  ];
  return [
    ...(repos.length ? [`ks_rel=$(. /etc/os-release && echo "\${VERSION_ID%%.*}")`] : []),
    ...repos.map((r, i) => `ks_url${i}=$(printf '%s' ${shq(r.baseUrl)} | sed -e "s/\\$releasever/$ks_rel/g" -e "s/\\$basearch/$(uname -m)/g")`),
    ...(manager === 'dnf'
      ? ['if true; then', ...run(`dnf -q${from('repo')} repoquery`)]
      : [
          'if command -v repoquery >/dev/null 2>&1; then',
          ...run(`repoquery -q${from('repoid')}`),
          'elif yum repoquery --help >/dev/null 2>&1; then',
          ...run(`yum -q${from('repo')} repoquery`),
          'else',
          "  echo 'rc unknown'",
        ]),
    'fi',
  ].join('\n');
}
