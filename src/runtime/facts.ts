import type { Version } from '../upstream/index.js';
import type { PackageRepo } from '../os/adapter.js';
import { debianAdapter } from '../os/debian.js';
import { elAdapter } from '../os/el.js';
import { shq } from '../ssh/quote.js';
import { leadingVersion } from './versions.js';

/** What the runtime phase needs to know about a host before it decides anything. */
export interface RuntimeFacts {
  /** 2 when /sys/fs/cgroup is the unified hierarchy (cgroup2fs), 1 otherwise. */
  cgroupVersion: 1 | 2;
  /** containerd as installed (its `--version`), if it is. */
  containerd?: Version;
  /** Whether `dockerd` is installed. */
  docker: boolean;
  /**
   * What the package manager could install, asked only when the runtime is not installed yet:
   * package name -> version. `undefined`: not asked, or the host cannot tell (no package lists yet).
   */
  candidates?: Map<string, string>;
  /** A failed package query: its exit status and the last lines it printed (an unreachable repository). */
  queryFailure?: { exitCode: number; output: string };
  /** fstab mount points that hold DOCKER_DATA_ROOT and are not mounted. */
  unmountedDataRootMounts: string[];
  /** The top-level directory of DOCKER_DATA_ROOT does not exist: a disk that was meant to be there is not. */
  dataRootTopMissing: boolean;
}

export interface RuntimeFactInput {
  /** The packages each package manager would install for the runtime, and from where; none for a bundle install. */
  packages?: { apt: readonly string[]; el: readonly string[]; repo?: PackageRepo };
  dataRoot: string;
}

/**
 * One snippet, per host: the cgroup hierarchy, the installed containerd's version, and only when
 * containerd or Docker is missing, what the package manager could install (the question that
 * costs a repository query). Then where Docker's data root would live.
 */
export function runtimeFactSnippet({ packages, dataRoot }: RuntimeFactInput): string {
  const top = `/${dataRoot.split('/').filter(Boolean)[0] ?? ''}`;
  return [
    'echo "cgroup $(stat -fc %T /sys/fs/cgroup 2>/dev/null)"',
    'command -v containerd >/dev/null 2>&1 && echo "installed-containerd $(containerd --version 2>/dev/null | head -n 1)"',
    'command -v dockerd >/dev/null 2>&1 && echo "installed-dockerd yes"',
    ...(packages ? candidateQuery(packages) : []),
    `[ -d ${shq(top)} ] || echo "data-root-top missing"`,
    `ks_root=${shq(dataRoot.replace(/\/+$/, ''))}`,
    `for ks_m in $(awk '!/^[[:space:]]*#/ && NF >= 3 && $3 != "swap" && $2 ~ /^\\// {print $2}' /etc/fstab 2>/dev/null); do`,
    '  case "$ks_root/" in "${ks_m%/}/"*) mountpoint -q "$ks_m" || echo "unmounted $ks_m";; esac',
    'done',
  ].join('\n');
}

function candidateQuery(packages: NonNullable<RuntimeFactInput['packages']>): string[] {
  return [
    'if ! command -v containerd >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then',
    'echo "query begin"',
    'if command -v dnf >/dev/null 2>&1; then',
    elAdapter(9, 'dnf').candidateVersions(packages.el, packages.repo),
    'elif command -v yum >/dev/null 2>&1; then',
    elAdapter(7, 'yum').candidateVersions(packages.el, packages.repo),
    'elif command -v apt-get >/dev/null 2>&1; then',
    debianAdapter.candidateVersions(packages.apt),
    'fi',
    'echo "query end"',
    'fi',
  ];
}

/**
 * The snippet prints its own lines before and after the package query; what the package manager
 * printed (an error, a repository's text) is read only between the query's first and last line,
 * so it cannot pass for one of the snippet's own.
 */
export function parseRuntimeFacts(output: string | undefined): RuntimeFacts {
  const lines = (output ?? '').split('\n');
  const begin = lines.indexOf('query begin');
  const end = lines.lastIndexOf('query end');
  const asked = begin >= 0 && end > begin;
  const head = asked ? lines.slice(0, begin) : lines;
  const tail = asked ? lines.slice(end + 1) : lines;
  const value = (key: string) =>
    head
      .find((l) => l.startsWith(`${key} `))
      ?.slice(key.length + 1)
      .trim();
  const facts: RuntimeFacts = {
    cgroupVersion: value('cgroup') === 'cgroup2fs' ? 2 : 1,
    docker: value('installed-dockerd') === 'yes',
    unmountedDataRootMounts: tail.filter((l) => l.startsWith('unmounted ')).map((l) => l.slice('unmounted '.length).trim()),
    dataRootTopMissing: tail.includes('data-root-top missing'),
  };
  const containerd = value('installed-containerd');
  const installed = containerd ? leadingVersion(containerd) : undefined;
  if (installed) facts.containerd = installed;

  if (asked) {
    const query = lines.slice(begin + 1, end);
    const rcAt = query.findIndex((l) => l.startsWith('rc '));
    const rc = rcAt >= 0 ? query[rcAt]!.slice(3).trim() : 'unknown';
    if (rc === '0') {
      facts.candidates = new Map(
        query
          .slice(0, rcAt)
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f.length === 2)
          .map(([name, version]) => [name!, version!]),
      );
    } else if (/^\d+$/.test(rc)) {
      facts.queryFailure = {
        exitCode: Number(rc),
        output: query
          .slice(rcAt + 1)
          .join('\n')
          .trim(),
      };
    }
  }
  return facts;
}
