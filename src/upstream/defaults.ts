import type { Project } from './components.js';
import { DEFAULT_ETCD_VERSION } from './etcd.js';
import { DEFAULT_KUBE_VERSION } from './kubernetes.js';

/**
 * The version of each project a new cluster gets. Kubernetes: the newest pinned patch; etcd: the
 * 3.6 line that Kubernetes 1.34-1.36 test with (1.37 also runs on it); flannel and the CNI plugins:
 * their current releases; containerd: the 2.3 LTS line; runc and Docker: releases that containerd
 * 2.x and the supported kubelets run with.
 */
export const DEFAULT_VERSIONS: Record<Project, string> = {
  kubernetes: DEFAULT_KUBE_VERSION,
  etcd: DEFAULT_ETCD_VERSION,
  flannel: 'v0.28.9',
  'flannel-cni-plugin': 'v1.9.1',
  'cni-plugins': 'v1.9.1',
  containerd: 'v2.3.0',
  runc: 'v1.3.3',
  docker: 'v28.5.1',
};
