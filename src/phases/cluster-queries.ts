import { etcdApiOn, kubeApiOn } from '../cluster-api/cluster-apis.js';
import type { EtcdApi } from '../cluster-api/etcd-api.js';
import type { KubeApi } from '../cluster-api/kube-api.js';
import { ConfigMapSchema } from '../cluster-api/kube-objects.js';
import type { OpenChannel } from '../cluster-api/tls-channel.js';
import { serverSideApply, type ManifestObject } from '../cluster-api/apply.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { clientIdentity } from '../pki/client-identities.js';

/**
 * What the phases' cluster checks (ClusterAction.query) ask through the chosen host's SSH
 * connection, as the controller itself: the API server as the cluster admin, etcd as its
 * administrator or health-check user, and what the actions that have an `apply` change the same way.
 */
export function adminApi(spec: ClusterSpec, host: HostSpec, channel: OpenChannel): KubeApi {
  return kubeApiOn(spec, host, channel, clientIdentity(spec, 'kubeAdmin'));
}

export function etcdAs(spec: ClusterSpec, host: HostSpec, channel: OpenChannel, user: 'etcdAdmin' | 'etcdHealthcheck'): EtcdApi {
  return etcdApiOn(host, channel, clientIdentity(spec, user));
}

/** Whether the object at an API path exists. */
export async function exists(api: KubeApi, path: string): Promise<boolean> {
  return (await api.get(path, ConfigMapSchema.pick({ metadata: true }))) !== undefined;
}

/**
 * What a cluster action did last, kept in the cluster itself (a ConfigMap in kube-system named
 * `kubestrap-<name>`) rather than in a file on the master that ran it: any master's action can
 * read it through the API, and reading it starts no process anywhere.
 */
export function stateConfigMap(name: string, data: Record<string, string>): ManifestObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `kubestrap-${name}`, namespace: 'kube-system' }, data };
}

/** Writes (server-side apply) the data of `stateConfigMap(name, ...)`. */
export function writeStateConfigMap(api: KubeApi, name: string, data: Record<string, string>): Promise<void> {
  return serverSideApply(api, [stateConfigMap(name, data)]);
}

/** The data of `stateConfigMap(name, ...)`, or undefined when it was never written. */
export async function readStateConfigMap(api: KubeApi, name: string): Promise<Record<string, string> | undefined> {
  return (await api.get(`/api/v1/namespaces/kube-system/configmaps/kubestrap-${name}`, ConfigMapSchema))?.data;
}

/** Forgets what `writeStateConfigMap(name, ...)` wrote (the action runs again next time). */
export async function forgetStateConfigMap(api: KubeApi, name: string): Promise<void> {
  await api.delete(`/api/v1/namespaces/kube-system/configmaps/kubestrap-${name}`);
}
