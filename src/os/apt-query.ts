import { shJoin, shq } from '../ssh/quote.js';
import type { PackageRepo } from './adapter.js';

/** The variable an apt repository's URL may hold, filled in per host: os-release's ID (debian, ubuntu). */
export const APT_DISTRO_VARIABLE = '$distro';

/** Package lists exist: without them (a host that never ran `apt-get update`) apt knows no candidate yet. */
const HAS_LISTS = 'ls /var/lib/apt/lists/ 2>/dev/null | grep -q Packages';

/** `NAME VERSION` for each package apt-cache policy names a candidate for. */
const POLICY_AWK = `awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /Candidate:/ && $2 != "(none)" {print p, $2}'`;

/**
 * apt in a folder of its own: package lists and caches under $ks_t, never the host's, so that asking
 * changes nothing there. Unreachable sources fail the update (Error-Mode=any, apt 2.3 and later;
 * older apt only warns, so a `W: Failed to fetch` line fails it too). The download runs as root
 * (the _apt user cannot enter the private temporary folder), with short timeouts: this is a question.
 */
const OWN_STATE = [
  '-o Dir::State::Lists="$ks_t/lists"',
  '-o Dir::Cache::pkgcache=',
  '-o Dir::Cache::srcpkgcache=',
  '-o APT::Sandbox::User=root',
  '-o Acquire::Retries=0',
  '-o Acquire::Languages=none',
  '-o Acquire::http::Timeout=15',
  '-o Acquire::https::Timeout=15',
  '-o APT::Update::Error-Mode=any',
].join(' ');

/** Only the repositories kubestrap names, none of the host's. */
const OWN_SOURCES = '-o Dir::Etc::SourceList="$ks_t/sources.list" -o Dir::Etc::SourceParts="$ks_t/none"';

/**
 * The one-line source of `repo` for this host: its URL with $distro filled in and its suite, the
 * release's codename, both read from os-release by the shell; `[trusted=yes]` because the key that
 * signs it is not on the host before kubestrap installs it (a question only: installs check it).
 */
function repoLine(repo: PackageRepo): string {
  const url = `$(printf '%s' ${shq(repo.baseUrl)} | sed 's|[$]${APT_DISTRO_VARIABLE.slice(1)}|'"$ks_id"'|g')`;
  return `printf 'deb [trusted=yes] %s %s %s\\n' "${url}" "$ks_suite" ${shq(repo.components ?? 'stable')}`;
}

/**
 * Shell that prints `NAME VERSION` for each of `names` apt could install, then `rc N`, and after a
 * failure the update's last lines, each behind `| ` (so no line a repository sends can pass for one
 * of the snippet's own). From `repos` alone when given (apt-get update into a private folder);
 * otherwise from the host's own sources: its package lists where it has them, else a private update
 * of its sources (a fresh host that never ran apt-get update).
 */
export function aptCandidateQuery(names: readonly string[], repos: readonly PackageRepo[] = []): string {
  const ownQuery = (options: string, sources: string[]) => [
    'ks_t=$(mktemp -d) && mkdir -p "$ks_t/lists/partial" && {',
    ...sources,
    `  ks_out=$(apt-get ${options} -q update 2>&1); ks_rc=$?`,
    `  [ "$ks_rc" -eq 0 ] && printf '%s\\n' "$ks_out" | grep -q '^[WE]: Failed to fetch' && ks_rc=100`,
    `  [ "$ks_rc" -eq 0 ] && apt-cache ${options} policy ${shJoin(names)} 2>/dev/null | ${POLICY_AWK}`,
    '  echo "rc $ks_rc"',
    // apt's closing summary says less than the line before it (which source, and why).
    `  [ "$ks_rc" -eq 0 ] || printf '%s\\n' "$ks_out" | grep -v '^[WE]: Some index files failed' | tail -n 5 | sed 's/^/| /'`,
    '  rm -rf "$ks_t"',
    "} || echo 'rc unknown'",
  ];
  if (repos.length) {
    return [
      `ks_id=$(. /etc/os-release && printf '%s' "$ID"); ks_suite=$(. /etc/os-release && printf '%s' "$VERSION_CODENAME")`,
      ...ownQuery(`${OWN_STATE} ${OWN_SOURCES}`, [`  { ${repos.map(repoLine).join('; ')}; } > "$ks_t/sources.list"`]),
    ].join('\n');
  }
  return [`if ${HAS_LISTS}; then`, `  apt-cache policy ${shJoin(names)} 2>/dev/null | ${POLICY_AWK}`, "  echo 'rc 0'", 'else', ...ownQuery(OWN_STATE, []), 'fi'].join('\n');
}
