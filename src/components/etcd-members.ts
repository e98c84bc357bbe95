import type { HostSpec } from '../config/cluster-spec.js';
import { DEFAULT_PORTS } from '../upstream/index.js';

/**
 * etcd's members as etcd reports them (`etcdctl member list`, its default "simple" format:
 * `id, status, name, peer URLs, client URLs, is learner`). A member added but not yet started has
 * status `unstarted` and no name: it is known by its peer URL alone.
 */
export interface EtcdMember {
  id: string;
  started: boolean;
  /** Empty for a member that has not started yet. */
  name: string;
  peerUrls: string[];
}

export function parseMemberList(text: string): EtcdMember[] {
  return text.split('\n').flatMap((line) => {
    const fields = line.split(', ').map((f) => f.trim());
    if (fields.length < 5 || !/^[0-9a-f]+$/.test(fields[0]!)) return [];
    return [{ id: fields[0]!, started: fields[1] === 'started', name: fields[2]!, peerUrls: fields[3]!.split(',').filter(Boolean) }];
  });
}

/** The peer URL a host's member advertises (the unit's --initial-advertise-peer-urls). */
export function peerUrl(host: Pick<HostSpec, 'nodeIp'>): string {
  return `https://${host.nodeIp}:${DEFAULT_PORTS.etcdPeer}`;
}

/** The member that is this host: by name once it started, by peer URL before. */
export function memberOf(members: readonly EtcdMember[], host: Pick<HostSpec, 'name' | 'nodeIp'>): EtcdMember | undefined {
  const url = peerUrl(host);
  return members.find((m) => m.name === host.name || m.peerUrls.includes(url));
}
