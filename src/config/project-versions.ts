import { parseProjectVersion, type Project, type ProjectVersions } from '../upstream/index.js';
import type { KnownKey } from './keys.js';

/** The property naming each upstream project's version. */
export const PROJECT_VERSION_KEYS: Record<Project, KnownKey> = {
  kubernetes: 'KUBE_VERSION',
  etcd: 'ETCD_VERSION',
  flannel: 'FLANNEL_VERSION',
  'flannel-cni-plugin': 'FLANNEL_CNI_PLUGIN_VERSION',
  'cni-plugins': 'CNI_PLUGINS_VERSION',
  containerd: 'CONTAINERD_VERSION',
  runc: 'RUNC_VERSION',
  docker: 'DOCKER_VERSION',
};

/** Every project's version from validated values (each key's check has passed). */
export function projectVersions(values: Readonly<Record<string, string>>): ProjectVersions {
  return Object.fromEntries(
    Object.entries(PROJECT_VERSION_KEYS).map(([project, key]) => {
      const version = parseProjectVersion(project as Project, values[key] ?? '');
      if (!version) throw new Error(`${key}=${values[key]} passed validation but is not a version`);
      return [project, version];
    }),
  ) as ProjectVersions;
}
