import type { Version } from '../upstream/index.js';
import type { PackageRepo } from '../os/adapter.js';
import { debianAdapter } from '../os/debian.js';
import { elAdapter } from '../os/el.js';
import { shq } from '../ssh/quote.js';
import type { PackageQuery, RuntimeSource } from './source.js';
import { leadingVersion } from './versions.js';
import { CGROUP_FS_SNIPPET } from '../preflight/cgroup.js';

/** What the runtime phase needs to know about a host before it decides anything. */
export interface RuntimeFacts {
  /** 2 when /sys/fs/cgroup is the unified hierarchy (cgroup2fs), 1 otherwise. */
  cgroupVersion: 1 | 2;
  /** containerd as installed (its `--version`), if it is. */
  containerd?: Version;
  /** Whether `dockerd` is installed. */
  docker: boolean;
  /** Where the installed containerd came from: Docker's containerd.io, the distribution's containerd, or no package (a binary of its own). */
  installedFrom?: RuntimeSource;
  /**
   * What the package managers said they could install, asked only when there is a choice to make
   * (see runtimeFactSnippet); undefined where not asked. The distribution's own packages (apt
   * hosts), Docker's repository, and on EL the release's own repositories, which docker-ce needs
   * (container-selinux): a failure there is a mirror the host cannot reach.
   */
  distro?: PackageQuery;
  dockerRepo?: PackageQuery;
  baseRepos?: PackageQuery;
  /** fstab mount points that hold DOCKER_DATA_ROOT and are not mounted. */
  unmountedDataRootMounts: string[];
  /** The top-level directory of DOCKER_DATA_ROOT does not exist: a disk that was meant to be there is not. */
  dataRootTopMissing: boolean;
  /**
   * Root on this host may not lower a process's oom_score_adj (no CAP_SYS_RESOURCE: an LXC or
   * systemd-nspawn container, rootless in a container). containerd starts every sandbox at -998,
   * so runc fails each one ("can't get final child's PID from pipe: EOF") unless told not to.
   */
  oomScoreAdjRestricted: boolean;
}

export interface RuntimeFactInput {
  dataRoot: string;
  /** What to ask when there is a choice to make; none for the release binaries (CONTAINER_RUNTIME_SOURCE=static). */
  queries?: {
    /** Below this an installed containerd is to be replaced: the oldest release upstream supports for the cluster's Kubernetes. */
    oldest: Version;
    /** The distribution's runtime packages, asked of the host's own sources (apt: EL's carry none). */
    distro?: readonly string[];
    /** Docker's packages, asked of its repository for each family (apt's URL may hold $distro). */
    docker?: { names: readonly string[]; apt: PackageRepo; el: PackageRepo };
    /** EL: a package of the release's own repositories, asked of `repos` when given (EL_BASE_REPO), else of the host's. */
    base?: { names: readonly string[]; repos: readonly PackageRepo[] };
  };
}

type QueryName = 'distro' | 'docker' | 'base';

/** One named question, between its own begin and end lines. */
const block = (name: QueryName, script: string) => [`echo 'query ${name} begin'`, script, `echo 'query ${name} end'`];

/** Where containerd's packages (Debian's, Docker's containerd.io on either family) put its binary. */
export const PACKAGED_CONTAINERD = '/usr/bin/containerd';

/**
 * `ks_older A B`: whether dotted version A is below B, field by field as numbers (a missing field is
 * 0), by shell arithmetic: no `sort -V`, no subshell.
 */
const VERSION_BELOW = [
  'ks_older() {',
  '  ks_a=$1; ks_b=$2',
  '  while [ -n "$ks_a$ks_b" ]; do',
  '    ks_x=${ks_a%%.*}; ks_y=${ks_b%%.*}',
  '    [ "${ks_x:-0}" -lt "${ks_y:-0}" ] && return 0',
  '    [ "${ks_x:-0}" -gt "${ks_y:-0}" ] && return 1',
  '    case $ks_a in *.*) ks_a=${ks_a#*.} ;; *) ks_a= ;; esac',
  '    case $ks_b in *.*) ks_b=${ks_b#*.} ;; *) ks_b= ;; esac',
  '  done',
  '  return 1',
  '}',
].join('\n');

/**
 * One snippet, per host: the cgroup hierarchy, the installed containerd (version, and which
 * package it came from) and dockerd; and only when there is a choice to make (containerd or
 * dockerd missing, or the containerd older than any the cluster's Kubernetes supports), what the
 * package managers could install: the questions that cost a repository round trip. Then where
 * Docker's data root would live.
 */
export function runtimeFactSnippet({ queries, dataRoot }: RuntimeFactInput): string {
  const top = `/${dataRoot.split('/').filter(Boolean)[0] ?? ''}`;
  const oldest = queries ? queries.oldest.tag.slice(1) : '';
  return [
    VERSION_BELOW,
    `printf 'cgroup '; { ${CGROUP_FS_SNIPPET}; } 2>/dev/null || echo`,
    'ks_ask=',
    // The containerd that PATH finds, by builtins (command -v prints it only in a subshell).
    'ks_cb=; ks_ifs=$IFS; IFS=:; for ks_d in $PATH; do [ -f "$ks_d/containerd" ] && [ -x "$ks_d/containerd" ] && { ks_cb=$ks_d/containerd; break; }; done; IFS=$ks_ifs',
    'if [ -n "$ks_cb" ]; then',
    // Docker's package on either family, else the distribution's, else a binary of its own: one
    // query of the package database, which also says the package's version.
    "  ks_nl='",
    "'",
    '  ks_from=static; ks_pv=',
    "  if command -v rpm >/dev/null 2>&1 && ks_pv=$(rpm -q --qf '%{VERSION}\\n' containerd.io 2>/dev/null); then ks_from=docker",
    '  elif command -v dpkg-query >/dev/null 2>&1; then',
    "    ks_pq=$(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Version}\\n' containerd.io containerd 2>/dev/null)",
    '    case "$ks_nl$ks_pq" in',
    '      *"${ks_nl}ii |containerd.io|"*) ks_from=docker; ks_pv=${ks_pq#*"ii |containerd.io|"} ;;',
    '      *"${ks_nl}ii |containerd|"*) ks_from=distro; ks_pv=${ks_pq#*"ii |containerd|"} ;;',
    '    esac',
    '  fi',
    '  ks_pv=${ks_pv%%"$ks_nl"*}',
    // The package's own binary answers with the package's version: Go's start-up (about 30 ms of
    // the host's CPU) only for another binary, whose third word is the version (1.6.20~ds1, v2.1.4).
    `  if [ "$ks_from" != static ] && [ "$ks_cb" = ${PACKAGED_CONTAINERD} ] && [ -n "$ks_pv" ]; then ks_cv=$ks_pv; ks_cl=$ks_pv`,
    '  else',
    '    ks_cl=$(containerd --version 2>/dev/null); ks_cl=${ks_cl%%"$ks_nl"*}',
    '    read -r ks_w1 ks_w2 ks_cv ks_rest <<KS_EOF',
    '$ks_cl',
    'KS_EOF',
    '  fi',
    '  echo "installed-containerd $ks_cl"',
    '  echo "installed-from $ks_from"',
    // Older than the oldest supported: ask.
    ...(queries ? ['  ks_cv=${ks_cv#*:}; ks_cv=${ks_cv#v}; ks_cv=${ks_cv%%[!0-9.]*}', `  ks_older "$ks_cv" ${shq(oldest)} && ks_ask=1`] : []),
    'else ks_ask=1; fi',
    'if command -v dockerd >/dev/null 2>&1; then echo "installed-dockerd yes"; else ks_ask=1; fi',
    ...(queries ? packageQueries(queries) : []),
    // In a subshell: only that short-lived process's score changes (and only where it may).
    "( echo -998 > /proc/self/oom_score_adj ) 2>/dev/null || echo 'oom-score-adj restricted'",
    `[ -d ${shq(top)} ] || echo "data-root-top missing"`,
    `ks_root=${shq(dataRoot.replace(/\/+$/, ''))}`,
    // fstab's file systems (not swap, not /: always mounted) by the shell's read, not an awk.
    'while read -r ks_dev ks_m ks_type ks_rest; do',
    '  case $ks_dev in "#"* | "") continue ;; esac',
    '  [ -n "$ks_type" ] && [ "$ks_type" != swap ] && [ "$ks_m" != / ] || continue',
    '  case $ks_m in /*) ;; *) continue ;; esac',
    '  case "$ks_root/" in "${ks_m%/}/"*) mountpoint -q "$ks_m" || echo "unmounted $ks_m";; esac',
    'done < /etc/fstab',
  ].join('\n');
}

/** The questions, by the package manager the host has (dnf before yum before apt, as the facts take it). */
function packageQueries(q: NonNullable<RuntimeFactInput['queries']>): string[] {
  const el = (manager: 'dnf' | 'yum') => {
    const adapter = elAdapter(manager === 'dnf' ? 9 : 7, manager);
    return [...(q.docker ? block('docker', adapter.candidateVersions(q.docker.names, [q.docker.el])) : []), ...(q.base ? block('base', adapter.candidateVersions(q.base.names, q.base.repos)) : [])];
  };
  const apt = [...(q.distro ? block('distro', debianAdapter.candidateVersions(q.distro)) : []), ...(q.docker ? block('docker', debianAdapter.candidateVersions(q.docker.names, [q.docker.apt])) : [])];
  return [
    'if [ -n "$ks_ask" ]; then',
    'if command -v dnf >/dev/null 2>&1; then',
    ...el('dnf'),
    'elif command -v yum >/dev/null 2>&1; then',
    ...el('yum'),
    'elif command -v apt-get >/dev/null 2>&1; then',
    ...apt,
    'fi',
    'fi',
  ].filter((line) => line !== '');
}

const BEGIN = /^query (distro|docker|base) begin$/;

/**
 * The snippet prints its own lines before and after the package queries; what a package manager
 * printed (an error, a repository's text) is read only inside its query's block, where its
 * candidate lines have two words and its failure lines start with `| `, so none can pass for a
 * line of the snippet's own or end a block early.
 */
export function parseRuntimeFacts(output: string | undefined): RuntimeFacts {
  const lines = (output ?? '').split('\n');
  const blocks = new Map<QueryName, string[]>();
  const own: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]!);
    const end = begin ? lines.indexOf(`query ${begin[1]} end`, i + 1) : -1;
    if (!begin || end < 0) {
      own.push(lines[i]!);
      continue;
    }
    blocks.set(begin[1] as QueryName, lines.slice(i + 1, end));
    i = end;
  }
  const value = (key: string) =>
    own
      .find((l) => l.startsWith(`${key} `))
      ?.slice(key.length + 1)
      .trim();
  const facts: RuntimeFacts = {
    cgroupVersion: value('cgroup') === 'cgroup2fs' ? 2 : 1,
    docker: value('installed-dockerd') === 'yes',
    unmountedDataRootMounts: own.filter((l) => l.startsWith('unmounted ')).map((l) => l.slice('unmounted '.length).trim()),
    dataRootTopMissing: own.includes('data-root-top missing'),
    oomScoreAdjRestricted: own.includes('oom-score-adj restricted'),
  };
  const containerd = value('installed-containerd');
  const installed = containerd ? leadingVersion(containerd) : undefined;
  if (installed) facts.containerd = installed;
  const from = value('installed-from');
  if (installed && (from === 'docker' || from === 'distro' || from === 'static')) facts.installedFrom = from;
  const query = (name: QueryName) => {
    const body = blocks.get(name);
    return body ? parseQuery(body) : undefined;
  };
  const distro = query('distro');
  const docker = query('docker');
  const base = query('base');
  return { ...facts, ...(distro ? { distro } : {}), ...(docker ? { dockerRepo: docker } : {}), ...(base ? { baseRepos: base } : {}) };
}

/** Candidates before `rc 0`; after another exit status, the failure's lines (without their `| `); `rc unknown`: cannot tell. */
function parseQuery(body: readonly string[]): PackageQuery {
  const rcAt = body.findIndex((l) => l.startsWith('rc '));
  const rc = rcAt >= 0 ? body[rcAt]!.slice(3).trim() : 'unknown';
  if (rc === '0') {
    return {
      candidates: new Map(
        body
          .slice(0, rcAt)
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f.length === 2)
          .map(([name, version]) => [name!, version!]),
      ),
    };
  }
  if (!/^\d+$/.test(rc)) return {};
  const output = body
    .slice(rcAt + 1)
    .filter((l) => l.startsWith('|'))
    .map((l) => l.replace(/^\| ?/, ''))
    .join('\n')
    .trim();
  return { failure: { exitCode: Number(rc), output } };
}
