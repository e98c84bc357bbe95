import { LOCAL_ETCD, localApiserver } from '../components/catalog.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { EtcdApi } from './etcd-api.js';
import { KubeApi, type ApiEndpoint } from './kube-api.js';
import type { ClientIdentity, OpenChannel } from './tls-channel.js';

/** A URL's address and port, as seen from `host`, which carries the requests. */
function endpointOf(host: HostSpec, url: string): ApiEndpoint {
  const u = new URL(url);
  return { host: host.name, address: u.hostname, port: Number(u.port) };
}

/** The API server on `host` (a master), through `channel` of its SSH connection. */
export function kubeApiOn(spec: ClusterSpec, host: HostSpec, channel: OpenChannel, identity: ClientIdentity): KubeApi {
  return new KubeApi(channel, endpointOf(host, localApiserver(spec)), identity);
}

/** etcd on `host` (a member), through `channel` of its SSH connection; at `url` as the host reaches it (default: its loopback). */
export function etcdApiOn(host: HostSpec, channel: OpenChannel, identity: ClientIdentity, url: string = LOCAL_ETCD): EtcdApi {
  return new EtcdApi(channel, endpointOf(host, url), identity);
}
