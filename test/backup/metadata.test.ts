import { describe, expect, it } from 'vitest';
import { parseEndpointStatus, parseMemberList, parseSnapshotStatus, snapshotMetadataSchema } from '../../src/backup/metadata.js';
import { metadataFor } from './support.js';

describe('etcd snapshot metadata', () => {
  it('reads endpoint status with 64-bit ids exactly, as hex', () => {
    const json =
      '[{"Endpoint":"https://127.0.0.1:2379","Status":{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":1234,"raft_term":2},"version":"3.5.16","dbSize":20480}}]';
    expect(parseEndpointStatus(json)).toEqual({ version: '3.5.16', revision: 1234, clusterId: 'cdf818194e3a8c32' });
    expect(parseEndpointStatus('Error: context deadline exceeded')).toBeUndefined();
  });

  it('reads the member list, names and peer URLs', () => {
    const text = '8e9e05c52164694d, started, m1, https://10.0.0.11:2380, https://10.0.0.11:2379, false\n91bc3c398fb3c146, started, e1, https://10.0.0.13:2380, https://10.0.0.13:2379, false\n';
    expect(parseMemberList(text)).toEqual([
      { id: '8e9e05c52164694d', name: 'm1', peerUrls: ['https://10.0.0.11:2380'] },
      { id: '91bc3c398fb3c146', name: 'e1', peerUrls: ['https://10.0.0.13:2380'] },
    ]);
    expect(parseMemberList('Error: permission denied')).toEqual([]);
  });

  it("reads etcdutl's snapshot status after its log lines", () => {
    expect(parseSnapshotStatus('{"level":"info"}\n{"hash":123,"revision":7,"totalKey":42,"totalSize":20480}\n')).toEqual({ hash: 123, revision: 7, totalKey: 42, totalSize: 20480 });
    expect(parseSnapshotStatus('Error: snapshot file integrity check failed')).toBeUndefined();
  });

  it('the schema takes what backup writes and refuses a bad hash or a missing field', () => {
    const m = metadataFor(Buffer.from('x'));
    expect(snapshotMetadataSchema.safeParse(m).success).toBe(true);
    expect(snapshotMetadataSchema.safeParse({ ...m, sha256: 'abc' }).success).toBe(false);
    const { members: _members, ...noMembers } = m;
    expect(snapshotMetadataSchema.safeParse(noMembers).success).toBe(false);
  });
});
