import type { Project, ProjectVersions } from './components.js';
import { DEFAULT_ETCD_VERSION } from './etcd.js';
import { DEFAULT_KUBE_VERSION } from './kubernetes.js';
import { parseProjectVersion } from './release-tags.js';

/**
 * The version of each project a new cluster gets: only published releases, and where kubestrap pins
 * checksums, pinned ones. Kubernetes: the newest pinned patch; etcd: the newest pinned 3.6 release,
 * the line Kubernetes 1.34-1.36 test with (1.37 also runs on it); flannel and the CNI plugins: their
 * current releases (flannel's CNI plugin by its release tag, build suffix included); containerd:
 * the 2.3 LTS line; runc and Docker: releases that containerd 2.x and the supported kubelets run with.
 */
export const DEFAULT_VERSIONS: Record<Project, string> = {
  kubernetes: DEFAULT_KUBE_VERSION,
  etcd: DEFAULT_ETCD_VERSION,
  flannel: 'v0.28.9',
  'flannel-cni-plugin': 'v1.9.1-flannel1',
  'cni-plugins': 'v1.9.1',
  containerd: 'v2.3.0',
  runc: 'v1.3.3',
  docker: 'v28.5.1',
};

/** The defaults, parsed: what a cluster whose config names no version runs. */
export function defaultProjectVersions(): ProjectVersions {
  return Object.fromEntries(
    Object.entries(DEFAULT_VERSIONS).map(([project, tag]) => {
      const version = parseProjectVersion(project as Project, tag);
      if (!version) throw new Error(`the default ${project} version "${tag}" is not a version`);
      return [project, version];
    }),
  ) as ProjectVersions;
}
