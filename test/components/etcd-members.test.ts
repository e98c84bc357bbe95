import { describe, expect, it } from 'vitest';
import { memberOf, parseMemberList } from '../../src/components/etcd-members.js';

const LIST = `8e9e05c52164694d, started, n1, https://10.0.0.11:2380, https://10.0.0.11:2379, false
91bc3c398fb3c146, unstarted, , https://10.0.0.14:2380, , false
`;

describe('etcd member list', () => {
  it('reads started and unstarted members as etcdctl prints them', () => {
    expect(parseMemberList(LIST)).toEqual([
      { id: '8e9e05c52164694d', started: true, name: 'n1', peerUrls: ['https://10.0.0.11:2380'] },
      { id: '91bc3c398fb3c146', started: false, name: '', peerUrls: ['https://10.0.0.14:2380'] },
    ]);
    expect(parseMemberList('Error: context deadline exceeded\n')).toEqual([]);
  });

  it('finds a host by name once started, by its peer URL before', () => {
    const members = parseMemberList(LIST);
    expect(memberOf(members, { name: 'n1', nodeIp: '10.9.9.9' })?.id).toBe('8e9e05c52164694d');
    expect(memberOf(members, { name: 'n4', nodeIp: '10.0.0.14' })?.id).toBe('91bc3c398fb3c146');
    expect(memberOf(members, { name: 'n5', nodeIp: '10.0.0.15' })).toBeUndefined();
  });
});
