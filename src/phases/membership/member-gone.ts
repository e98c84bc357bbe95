import type { EtcdApi } from '../../cluster-api/etcd-api.js';
import type { OpenChannel } from '../../cluster-api/tls-channel.js';
import { memberOf, peerUrl } from '../../components/etcd-members.js';
import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import type { ClusterAction } from '../context.js';
import { etcdAs } from '../cluster-queries.js';
import { namesWith } from './hosts-with-role.js';

/**
 * Its etcd member removed, before its etcd stops, by the controller through a remaining member's
 * channel to that member's etcd: the member list and MemberRemove over gRPC, as etcd's root (under
 * auth, only root may remove a member). No process starts on the member.
 */
export function memberGone(spec: ClusterSpec, leaving: HostSpec): ClusterAction {
  const url = peerUrl(leaving);
  const admin = (channel: OpenChannel, host: HostSpec): EtcdApi => etcdAs(spec, host, channel, 'etcdAdmin');
  return {
    name: `etcd-member-remove:${leaving.name}`,
    description: `etcd member remove ${leaving.name} (${url})`,
    query: async (channel, host) => memberOf(await admin(channel, host).memberList(), leaving) === undefined,
    apply: async (channel, host) => {
      const api = admin(channel, host);
      const member = memberOf(await api.memberList(), leaving);
      if (member) await api.memberRemove(member.id);
    },
    candidates: namesWith(spec, 'etcd'),
    when: 'before',
    failureHint: 'check that the remaining etcd members are healthy (bootstrap health) and keep a quorum without this one',
  };
}
