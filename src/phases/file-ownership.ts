import type { PhaseName } from './phase-names.js';

/**
 * Which phase installs a rendered file, by its path on the host. A template tree may hold files of
 * its own; those that match nothing here are installed with the OS preparation, before any
 * component needs them.
 */
const OWNERS: ReadonlyArray<readonly [PhaseName, RegExp]> = [
  ['runtime', /^\/etc\/(docker|containerd)\//],
  ['etcd', /^\/etc\/systemd\/system\/etcd\.service$/],
  ['control-plane', /^\/etc\/(systemd\/system\/kube-(apiserver|controller-manager|scheduler)\.service|kubernetes\/audit-policy\.yaml)$/],
  ['network', /^\/etc\/(systemd\/system\/flanneld\.service|kube-flannel\/|cni\/)/],
  ['addons', /^\/etc\/kubernetes\/addons\//],
  ['workers', /^\/etc\/(systemd\/system\/(kubelet|kube-proxy)\.service|kubernetes\/(kubelet|kube-proxy)[-.])/],
];

export function phaseOfFile(path: string): PhaseName {
  // A drop-in belongs with its unit: it changes that service and restarts it.
  const unit = /^(\/etc\/systemd\/system\/[^/]+\.service)\.d\/[^/]+\.conf$/.exec(path)?.[1] ?? path;
  return OWNERS.find(([, pattern]) => pattern.test(unit))?.[0] ?? 'os';
}
