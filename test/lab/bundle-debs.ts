import type { BinaryName, Project } from '../../src/upstream/index.js';
import type { Generation } from './generations.js';

/**
 * Where each real binary of a lab bundle comes from: a Debian package of one of the lab's two apt
 * repos or of trixie's packages fetched for bundles (lab-repos.ts), and the file's path inside it.
 * A project's version is its first package's.
 */
export type LabRepo = 'debian12' | 'unstable' | 'trixie';

export interface DebBinaries {
  repo: LabRepo;
  pkg: string;
  files: Partial<Record<BinaryName, string>>;
}

const CNI_PLUGINS: DebBinaries = {
  repo: 'unstable',
  pkg: 'containernetworking-plugins',
  files: { bridge: 'usr/lib/cni/bridge', 'host-local': 'usr/lib/cni/host-local', loopback: 'usr/lib/cni/loopback', portmap: 'usr/lib/cni/portmap' },
};

/** unstable's runc needs glibc 2.38: both generations run Debian 12's. */
const RUNC: DebBinaries = { repo: 'debian12', pkg: 'runc', files: { runc: 'usr/sbin/runc' } };

/** The real kubectl, in both generations: the bundle's other Kubernetes binaries are stand-ins. */
export const KUBECTL: DebBinaries = { repo: 'unstable', pkg: 'kubectl', files: { kubectl: 'usr/bin/kubectl' } };

/** etcd 3.5 of a repo: etcd and etcdutl (3.5's offline tool), etcdctl. */
function etcd35(repo: LabRepo): DebBinaries[] {
  return [
    { repo, pkg: 'etcd-server', files: { etcd: 'usr/bin/etcd', etcdutl: 'usr/bin/etcdutl' } },
    { repo, pkg: 'etcd-client', files: { etcdctl: 'usr/bin/etcdctl' } },
  ];
}

/**
 * Debian 13's etcd 3.5.16, older than the current generation's (unstable's 3.5.30) and supported
 * (3.5.11 or later), for a bundle an upgrade moves etcd from (bundle.ts projectsFrom).
 */
export const TRIXIE_ETCD: readonly DebBinaries[] = etcd35('trixie');

/** The projects whose binaries are all real, per generation. */
export const GENERATION_DEBS: Record<Generation, Partial<Record<Project, readonly DebBinaries[]>>> = {
  current: {
    etcd: etcd35('unstable'),
    containerd: [{ repo: 'unstable', pkg: 'containerd', files: { containerd: 'usr/bin/containerd', 'containerd-shim-runc-v2': 'usr/bin/containerd-shim-runc-v2', ctr: 'usr/bin/ctr' } }],
    runc: [RUNC],
    docker: [
      { repo: 'unstable', pkg: 'docker.io', files: { dockerd: 'usr/sbin/dockerd', 'docker-proxy': 'usr/sbin/docker-proxy' } },
      { repo: 'unstable', pkg: 'docker-cli', files: { docker: 'usr/bin/docker' } },
      { repo: 'unstable', pkg: 'tini-static', files: { 'docker-init': 'usr/bin/tini-static' } },
    ],
    'cni-plugins': [CNI_PLUGINS],
  },
  previous: {
    // etcd 3.4 has no etcdutl (it came with 3.5).
    etcd: [
      { repo: 'debian12', pkg: 'etcd-server', files: { etcd: 'usr/bin/etcd' } },
      { repo: 'debian12', pkg: 'etcd-client', files: { etcdctl: 'usr/bin/etcdctl' } },
    ],
    containerd: [{ repo: 'debian12', pkg: 'containerd', files: { containerd: 'usr/bin/containerd', 'containerd-shim-runc-v2': 'usr/bin/containerd-shim-runc-v2', ctr: 'usr/bin/ctr' } }],
    runc: [RUNC],
    docker: [
      { repo: 'debian12', pkg: 'docker.io', files: { docker: 'usr/bin/docker', dockerd: 'usr/sbin/dockerd', 'docker-proxy': 'usr/sbin/docker-proxy' } },
      { repo: 'debian12', pkg: 'tini', files: { 'docker-init': 'usr/bin/tini-static' } },
    ],
    'cni-plugins': [CNI_PLUGINS],
  },
};
