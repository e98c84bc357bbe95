import { etcdctl } from '../../components/clients.js';
import { LOCAL_ETCD } from '../../components/catalog.js';
import { peerUrl } from '../../components/etcd-members.js';
import type { ClusterSpec, HostSpec } from '../../config/cluster-spec.js';
import { shq } from '../../ssh/quote.js';
import type { ClusterAction } from '../context.js';
import { namesWith } from './hosts-with-role.js';

/** Its etcd member removed on a remaining member, as etcd's root, before its etcd stops. */
export function memberGone(spec: ClusterSpec, leaving: HostSpec): ClusterAction {
  // A line of `member list` is `id, status, name, peer URLs, client URLs, is learner`.
  const match = `awk -F', ' -v n=${shq(leaving.name)} -v u=${shq(peerUrl(leaving))} '$3 == n || $4 == u { print $1 }'`;
  return {
    name: `etcd-member-remove:${leaving.name}`,
    description: `etcdctl member remove ${leaving.name} (${peerUrl(leaving)})`,
    check: (h) => `ks_list=$(${etcdctl(h, LOCAL_ETCD, 'admin')} member list) && [ -z "$(printf '%s\\n' "$ks_list" | ${match})" ]`,
    run: (h) => `set -e\nks_id=$(${etcdctl(h, LOCAL_ETCD, 'admin')} member list | ${match})\n[ -z "$ks_id" ] || ${etcdctl(h, LOCAL_ETCD, 'admin')} member remove "$ks_id"`,
    candidates: namesWith(spec, 'etcd'),
    when: 'before',
    failureHint: 'check that the remaining etcd members are healthy (bootstrap health) and keep a quorum without this one',
  };
}
