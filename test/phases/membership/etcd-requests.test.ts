import { describe, expect, it } from 'vitest';
import type { ClusterSpec } from '../../../src/config/cluster-spec.js';
import type { ClusterAction, ClusterContext } from '../../../src/phases/context.js';
import { etcdJoinActions } from '../../../src/phases/membership/etcd-join.js';
import { memberGone } from '../../../src/phases/membership/member-gone.js';
import { clusterFrom } from '../../support/cluster.js';
import { useEtcdStandIn, type StandInMember } from '../../support/etcd-server.js';
import { useTempDir } from '../../support/tmp.js';

/** Three etcd hosts; e2 joins, or e2 leaves. */
const INVENTORY = (e2: string) => `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: e1, address: 10.0.0.12, roles: [etcd] }
  - { name: e2, address: 10.0.0.13, roles: [etcd]${e2} }
`;

const member = (n: number, name: string): StandInMember => ({ id: BigInt(n) * 0x100000001n, name, peerUrls: [`https://10.0.0.1${n}:2380`] });

/** What the controller's requests do, through a channel, to etcd's member list (a stand-in of etcd's gRPC API here; the lab's etcd in the e2e). */
describe("etcd's member add and remove, as the controller's requests", () => {
  const tmp = useTempDir();
  const leaving = useEtcdStandIn(tmp, (dir) => clusterFrom(dir, '', INVENTORY(', remove: true')));
  const joining = useEtcdStandIn(tmp, (dir) => clusterFrom(dir, '', INVENTORY('')));
  const host = (spec: ClusterSpec, name: string) => [...spec.hosts, ...spec.leaving].find((h) => h.name === name)!;
  const look = (a: ClusterAction, ...args: Parameters<NonNullable<ClusterAction['query']>>) => a.query!(...args);
  const act = (a: ClusterAction, ...args: Parameters<NonNullable<ClusterAction['apply']>>) => a.apply!(...args);

  it("removes the leaving host's member by its ID, as etcd's root, on the member's own etcd; then there is nothing to do", async () => {
    const { spec, etcd } = await leaving([member(1, 'm1'), member(2, 'e1'), member(3, 'e2')]);
    const action = memberGone(spec, host(spec, 'e2'));
    expect(action.candidates).toEqual(['m1', 'e1']);
    const m1 = host(spec, 'm1');
    const channel = etcd.channelOf('m1');
    expect(await look(action, channel, m1, [])).toBe(false);
    await act(action, channel, m1, []);
    expect(etcd.members.map((m) => m.name)).toEqual(['m1', 'e1']);
    expect(await look(action, channel, m1, [])).toBe(true);
    await act(action, channel, m1, []);
    expect(etcd.seen.map((c) => `${c.user} ${c.member} ${c.method}`)).toEqual([
      'root m1 Cluster/MemberList',
      'root m1 Cluster/MemberList',
      'root m1 Cluster/MemberRemove',
      'root m1 Cluster/MemberList',
      'root m1 Cluster/MemberList',
    ]);
  });

  it('removes a leaving member that never started, known by its peer URL alone', async () => {
    const { spec, etcd } = await leaving([member(1, 'm1'), member(2, 'e1'), member(3, '')]);
    await act(memberGone(spec, host(spec, 'e2')), etcd.channelOf('m1'), host(spec, 'm1'), []);
    expect(etcd.members.map((m) => m.name)).toEqual(['m1', 'e1']);
  });

  function joinCtx(spec: ClusterSpec, listed: StandInMember[]): ClusterContext {
    const line = (m: StandInMember) => `${m.id.toString(16)}, ${m.name ? 'started' : 'unstarted'}, ${m.name}, ${m.peerUrls.join(',')}, , false`;
    const facts = (name: string) => ({
      extra: { 'etcd-members': name === 'e2' ? undefined : listed.map(line).join('\n'), 'etcd-data': name === 'e2' ? '' : 'member\n{"cluster":"lab"}' },
      record: new Map(),
    });
    return { spec, mode: 'apply', hosts: spec.hosts.map((h) => ({ host: h, facts: facts(h.name) as never, os: {} as never, files: [] })) };
  }

  it("adds the joining host's peer URL as root, asked of the other members through the joining host's channel, the next one when one is down", async () => {
    const { spec, etcd } = await joining([member(1, 'm1'), member(2, 'e1')]);
    const [add] = etcdJoinActions(joinCtx(spec, etcd.members));
    const e2 = host(spec, 'e2');
    const channel = etcd.channelOf('e2');
    etcd.down.add('m1');
    expect(await look(add!, channel, e2, [])).toBe(false);
    await act(add!, channel, e2, []);
    expect(etcd.members.map((m) => [m.name, m.peerUrls])).toEqual([
      ['m1', ['https://10.0.0.11:2380']],
      ['e1', ['https://10.0.0.12:2380']],
      ['', ['https://10.0.0.13:2380']],
    ]);
    expect(await look(add!, channel, e2, [])).toBe(true);
    // Added by a run that stopped before the start: listed, so not added again.
    await act(add!, channel, e2, []);
    expect(etcd.members).toHaveLength(3);
    expect(new Set(etcd.seen.map((c) => `${c.user} ${c.member}`))).toEqual(new Set(['root e1']));
    expect(etcd.seen.filter((c) => c.method === 'Cluster/MemberAdd')).toHaveLength(1);
  });

  it('refuses to add beside another member that was added and has not started, adding nothing', async () => {
    const { spec, etcd } = await joining([member(1, 'm1'), member(2, 'e1'), { id: 9n, name: '', peerUrls: ['https://10.0.0.99:2380'] }]);
    const [add] = etcdJoinActions(joinCtx(spec, etcd.members.slice(0, 2)));
    const e2 = host(spec, 'e2');
    expect(await look(add!, etcd.channelOf('e2'), e2, [])).toBe(false);
    await expect(act(add!, etcd.channelOf('e2'), e2, [])).rejects.toThrow('another etcd member was added and has not started (https://10.0.0.99:2380)');
    expect(etcd.members).toHaveLength(3);
    expect(etcd.seen.some((c) => c.method === 'Cluster/MemberAdd')).toBe(false);
  });
});
