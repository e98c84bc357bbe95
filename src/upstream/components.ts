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

/** The version of each project a cluster runs: read from its config (see versionsOf in config). */
export type ProjectVersions = Record<Project, Version>;

/** Whether the release of `binary`'s project at the cluster's version ships it: etcdutl came with etcd 3.5. */
export function isReleased(binary: BinaryName, versions: ProjectVersions): boolean {
  return binary !== 'etcdutl' || hasEtcdutl(versions.etcd);
}
