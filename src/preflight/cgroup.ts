import { defineFact, readFact } from '../engine/facts.js';
import type { ClusterContext, ClusterHost } from '../phases/context.js';
import { HostError } from '../errors.js';
import { kubeletRefusesCgroupV1, LAST_CGROUP_V1_MINOR } from '../upstream/index.js';

/**
 * Fact snippet: the file system type of /sys/fs/cgroup. `cgroup2fs` is the unified hierarchy
 * (cgroup v2); `tmpfs` holds the v1 controllers (v1, or the hybrid layout, which the kubelet treats
 * as v1).
 */
export type CgroupVersion = 'v1' | 'v2' | 'unknown';

/**
 * Prints that type without a process where the layout tells it: `cgroup2fs` where the unified
 * hierarchy's own file is there (every cgroup v2 mount has cgroup.controllers at its root), `tmpfs`
 * where systemd's v1 hierarchy is a folder of it (v1 or hybrid, whose tmpfs has no
 * cgroup.controllers); else as stat tells it.
 */
export const CGROUP_FS_SNIPPET = 'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo cgroup2fs; elif [ -d /sys/fs/cgroup/systemd ]; then echo tmpfs; else stat -fc %T /sys/fs/cgroup; fi';

export const CGROUP_FACT = defineFact('cgroup-fs', CGROUP_FS_SNIPPET, (out): CgroupVersion => {
  const fs = (out ?? '').trim();
  if (fs === 'cgroup2fs') return 'v2';
  if (fs === 'tmpfs') return 'v1';
  return 'unknown';
});

export function cgroupVersion(facts: ClusterHost['facts']): CgroupVersion {
  return readFact(facts, CGROUP_FACT);
}

/**
 * Hosts that would run a kubelet on cgroup v1 although the version refuses that (1.35 and later)
 * and the config did not allow it: the kubelet would crash-loop after everything else was set up.
 */
export function cgroupProblems(ctx: ClusterContext, runsKubelet: (h: ClusterHost) => boolean): HostError[] {
  const version = ctx.spec.kubeVersion;
  if (!kubeletRefusesCgroupV1(version) || ctx.spec.values.KUBELET_ALLOW_CGROUP_V1 === 'true') return [];
  return ctx.hosts
    .filter((h) => runsKubelet(h) && cgroupVersion(h.facts) === 'v1')
    .map(
      (h) =>
        new HostError(
          h.host.name,
          `is a cgroup v1 host (/sys/fs/cgroup is tmpfs), and the kubelet of Kubernetes ${version.tag} refuses to start there (from v1.35 its failCgroupV1 setting defaults to true)`,
          {},
          `choose one: KUBE_VERSION up to ${LAST_CGROUP_V1_MINOR}.x; or KUBELET_ALLOW_CGROUP_V1=true (renders failCgroupV1: false, which upstream deprecated); or boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)`,
        ),
    );
}
