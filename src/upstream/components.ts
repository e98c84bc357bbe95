import { hasEtcdutl } from './etcd.js';
import type { Version } from './version.js';

/** CPU architectures kubestrap installs binaries for, in Go's (and the release assets') spelling. */
export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

/** `uname -m` to the release assets' arch; undefined for a machine no release ships binaries for. */
export function archOfMachine(machine: string): Arch | undefined {
  if (machine === 'x86_64' || machine === 'amd64') return 'amd64';
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  return undefined;
}

/**
 * Upstream projects kubestrap downloads, each released under one version: a binary belongs to
 * exactly one, and the cluster's config names each one's version.
 */
export const PROJECTS = ['kubernetes', 'etcd', 'flannel', 'flannel-cni-plugin', 'cni-plugins', 'containerd', 'runc', 'docker'] as const;
export type Project = (typeof PROJECTS)[number];

/** Where a binary is installed: BIN_PATH, or the CNI plugin folder the runtime reads. */
export type InstallDir = 'bin' | 'cni';

export interface BinarySpec {
  project: Project;
  dir: InstallDir;
}

/** Every binary kubestrap installs, by the name it has on the host. */
export const BINARIES = {
  'kube-apiserver': { project: 'kubernetes', dir: 'bin' },
  'kube-controller-manager': { project: 'kubernetes', dir: 'bin' },
  'kube-scheduler': { project: 'kubernetes', dir: 'bin' },
  kubectl: { project: 'kubernetes', dir: 'bin' },
  kubelet: { project: 'kubernetes', dir: 'bin' },
  'kube-proxy': { project: 'kubernetes', dir: 'bin' },
  etcd: { project: 'etcd', dir: 'bin' },
  etcdctl: { project: 'etcd', dir: 'bin' },
  etcdutl: { project: 'etcd', dir: 'bin' },
  flanneld: { project: 'flannel', dir: 'bin' },
  flannel: { project: 'flannel-cni-plugin', dir: 'cni' },
  bridge: { project: 'cni-plugins', dir: 'cni' },
  'host-local': { project: 'cni-plugins', dir: 'cni' },
  loopback: { project: 'cni-plugins', dir: 'cni' },
  portmap: { project: 'cni-plugins', dir: 'cni' },
  containerd: { project: 'containerd', dir: 'bin' },
  'containerd-shim-runc-v2': { project: 'containerd', dir: 'bin' },
  ctr: { project: 'containerd', dir: 'bin' },
  runc: { project: 'runc', dir: 'bin' },
  docker: { project: 'docker', dir: 'bin' },
  dockerd: { project: 'docker', dir: 'bin' },
  'docker-proxy': { project: 'docker', dir: 'bin' },
  'docker-init': { project: 'docker', dir: 'bin' },
} as const satisfies Record<string, BinarySpec>;

export type BinaryName = keyof typeof BINARIES;

export function isBinaryName(name: string): name is BinaryName {
  return Object.hasOwn(BINARIES, name);
}

export function binariesOf(project: Project): BinaryName[] {
  return (Object.keys(BINARIES) as BinaryName[]).filter((b) => BINARIES[b].project === project);
}

/** The roles of the inventory (config's Role), restated so that this module depends on nothing. */
export type HostRole = 'etcd' | 'master' | 'worker';

/** The version of each project a cluster runs: read from its config (see versionsOf in config). */
export type ProjectVersions = Record<Project, Version>;

/**
 * The binaries a host with these roles runs, in install order. Masters and workers both run
 * flanneld (the pod network reaches the API servers too); etcdctl goes wherever etcd is operated.
 */
export function binariesForRoles(roles: readonly HostRole[], versions: ProjectVersions): BinaryName[] {
  const out = new Set<BinaryName>();
  if (roles.includes('etcd')) {
    out.add('etcd').add('etcdctl');
    if (hasEtcdutl(versions.etcd)) out.add('etcdutl');
  }
  if (roles.includes('master')) {
    for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'etcdctl', 'flanneld'] as const) out.add(b);
  }
  if (roles.includes('worker')) {
    // kubectl too: a node checks its own registration with its own identity (kubelet.conf).
    for (const b of ['kubelet', 'kube-proxy', 'kubectl', 'flanneld', 'flannel', 'bridge', 'host-local', 'loopback', 'portmap'] as const) out.add(b);
  }
  return [...out];
}

/** The container runtime's static binaries (containerd, runc, Docker), for installs without a package repository. */
export function runtimeBinaries(): BinaryName[] {
  return [...binariesOf('containerd'), ...binariesOf('runc'), ...binariesOf('docker')];
}
