import { supportedKubeMinor } from './kubernetes.js';
import type { KubeVersion } from './version.js';

/** The registry kubeadm pulls from; a property (K8S_IMAGE_REGISTRY) points elsewhere. */
export const DEFAULT_IMAGE_REGISTRY = 'registry.k8s.io';

export type ImageName = 'pause' | 'coredns';

export interface ImageRef {
  name: ImageName;
  /** registry/repository:tag, as the runtime and kubelet name it. */
  ref: string;
  registry: string;
  repository: string;
  tag: string;
}

/** The images a node needs before any pod runs: the pod sandbox (pause) and cluster DNS. */
export function clusterImages(version: KubeVersion, registry: string): ImageRef[] {
  const minor = supportedKubeMinor(version);
  const image = (name: ImageName, repository: string, tag: string): ImageRef => ({ name, registry, repository, tag, ref: `${registry}/${repository}:${tag}` });
  return [image('pause', 'pause', minor.pause), image('coredns', 'coredns/coredns', minor.coredns)];
}

export function clusterImage(version: KubeVersion, registry: string, name: ImageName): ImageRef {
  return clusterImages(version, registry).find((i) => i.name === name)!;
}
