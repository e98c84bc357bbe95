import type { ComponentName } from '../components/catalog.js';
import { componentOfFile } from '../components/files.js';
import type { PhaseName } from './phase-names.js';

/**
 * The phase that installs each component's rendered files. Clients own no files: what a template
 * tree renders for them (profile.d settings, say) goes with the OS preparation.
 */
const PHASE_OF: Record<ComponentName, PhaseName> = {
  etcd: 'etcd',
  'kube-apiserver': 'control-plane',
  'kube-controller-manager': 'control-plane',
  'kube-scheduler': 'control-plane',
  kubelet: 'workers',
  'kube-proxy': 'workers',
  'api-lb': 'api-lb',
  kubectl: 'os',
  etcdctl: 'os',
  flanneld: 'network',
  'cni-plugins': 'network',
  containerd: 'runtime',
  docker: 'runtime',
  addons: 'addons',
};

/**
 * Which phase installs a rendered file: the one that installs the component owning it (see the
 * component catalog). A template tree may hold files of its own; those no component owns are
 * installed with the OS preparation, before any component needs them.
 */
export function phaseOfFile(path: string): PhaseName {
  const owner = componentOfFile(path);
  return owner ? PHASE_OF[owner] : 'os';
}
