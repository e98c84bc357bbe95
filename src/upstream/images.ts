import { supportedKubeMinor } from './kubernetes.js';
import type { KubeVersion } from './version.js';

/** The registry kubeadm pulls from; a property (K8S_IMAGE_REGISTRY) points elsewhere. */
export const DEFAULT_IMAGE_REGISTRY = 'registry.k8s.io';

export type ImageName = 'pause' | 'coredns' | 'health-check';

/**
 * The pod check's image (HEALTH_CHECK_IMAGE): Kubernetes' own e2e busybox, from the registry the
 * pause and CoreDNS images come from, pinned by tag; it has httpd, wget and nslookup.
 */
export const DEFAULT_HEALTH_CHECK_IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.36.1-1';

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

/** `registry[:port]/repository[/...]:tag` split up; undefined for anything else (no registry, no tag, a digest). */
export function parseImageReference(ref: string, name: ImageName = 'health-check'): ImageRef | undefined {
  const m =
    /^([A-Za-z0-9.-]+\.[A-Za-z0-9.-]+(?::\d{1,5})?|localhost(?::\d{1,5})?|[A-Za-z0-9.-]+:\d{1,5})\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(
      ref,
    );
  if (!m) return undefined;
  return { name, ref, registry: m[1]!, repository: m[2]!, tag: m[3]! };
}

/** The image of the pod check, as HEALTH_CHECK_IMAGE names it. */
export function healthCheckImage(ref: string): ImageRef {
  const image = parseImageReference(ref);
  if (!image) throw new Error(`${ref} is not an image reference (the config's check lets none through)`);
  return image;
}

/** Every image a node imports when no registry serves it: pause, CoreDNS and the pod check's. */
export function nodeImages(version: KubeVersion, registry: string, healthCheckRef: string): ImageRef[] {
  return [...clusterImages(version, registry), healthCheckImage(healthCheckRef)];
}
