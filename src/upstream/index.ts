/**
 * Upstream knowledge in one place: supported versions and what goes with each, flags each version
 * removed, where each binary and image is published and how to check it. It depends on nothing
 * else in kubestrap; config, render, phases and artifacts read it.
 */
export * from './artifacts.js';
export * from './components.js';
export * from './containerd.js';
export * from './defaults.js';
export * from './etcd.js';
export * from './images.js';
export * from './kube-flags.js';
export * from './kube-proxy.js';
export * from './kubernetes.js';
export * from './ports.js';
export * from './release-tags.js';
export * from './upgrade-policy.js';
export * from './version.js';
