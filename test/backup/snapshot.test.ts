import { describe, expect, it } from 'vitest';
import { parseSnapshotOutput, readSnapshotOutput, snapshotScript } from '../../src/backup/snapshot.js';
import { sha256 } from '../../src/backup/store.js';
import { HostError } from '../../src/errors.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const DATA = Buffer.from([0, 1, 2, 250, 251, 252, 64, 64, 10, 13]);
const STATUS = '[{"Endpoint":"https://127.0.0.1:2379","Status":{"header":{"cluster_id":14841639068965178418,"member_id":1,"revision":99,"raft_term":2},"version":"3.5.30","dbSize":20480}}]';
const MEMBERS = '8e9e05c52164694d, started, m1, https://10.0.0.11:2380, https://10.0.0.11:2379, false\n91bc3c398fb3c146, started, e1, https://10.0.0.13:2380, https://10.0.0.13:2379, false';

function output(data: Buffer, overrides: Record<string, string> = {}): string {
  const sections: Record<string, string> = {
    status: STATUS,
    members: MEMBERS,
    check: '{"hash":3,"revision":99,"totalKey":12,"totalSize":20480}',
    sha256: sha256(data),
    size: String(data.length),
    data: data.toString('base64'),
    end: '',
    ...overrides,
  };
  return Object.entries(sections)
    .map(([k, v]) => `@@ks-${k}\n${v}`)
    .join('\n');
}

describe('the snapshot command', () => {
  const tmp = useTempDir();
  const spec = () => clusterFrom(tmp(), 'KUBE_VERSION=v1.35.0\n');

  it('saves as etcd root to a private temp folder, checks it with etcdutl and sha256, and removes it in the same command', () => {
    const script = snapshotScript(spec().hosts[0]!);
    expect(script).toContain('--cert=/etc/kubernetes/pki/etcd/admin-client.crt');
    expect(script).toMatch(/mktemp -d \/tmp\/kubestrap-snapshot\.XXXXXX/);
    expect(script).toContain(`trap 'rm -rf "$ks_dir"' EXIT`);
    expect(script).toContain('/etcdutl snapshot status "$ks_dir/snapshot.db" -w json');
    expect(script.trimEnd().split('\n').slice(-3)[0]).toBe('rm -rf "$ks_dir"');
  });

  it('turns what the member sent into the bytes and their metadata', () => {
    const s = spec();
    const { data, metadata } = readSnapshotOutput(s, s.hosts[0]!, output(DATA), new Date('2026-01-02T03:04:05Z'));
    expect(data).toEqual(DATA);
    expect(metadata).toMatchObject({
      cluster: 'lab',
      takenFrom: 'm1',
      etcdVersion: '3.5.30',
      revision: 99,
      clusterId: 'cdf818194e3a8c32',
      size: DATA.length,
      sha256: sha256(DATA),
      status: { totalKey: 12 },
    });
    expect(metadata.members.map((m) => m.name)).toEqual(['m1', 'e1']);
  });

  it('refuses bytes that are not what the member hashed, a failed save, an unreadable snapshot and a cut-off command', () => {
    const s = spec();
    const read = (out: string) => () => readSnapshotOutput(s, s.hosts[0]!, out, new Date());
    expect(read(output(DATA, { data: Buffer.from('other').toString('base64') }))).toThrow(/changed on its way/);
    expect(read(`${output(DATA).split('@@ks-check')[0]}@@ks-error\nError: context deadline exceeded`)).toThrow(HostError);
    expect(read(output(DATA, { check: 'Error: snapshot file integrity check failed' }))).toThrow(/etcdutl snapshot status could not read/);
    expect(read(output(DATA).replace(/@@ks-end\n?$/, ''))).toThrow(/did not finish/);
  });

  it('cuts the output at its own markers only', () => {
    expect(parseSnapshotOutput('noise\n@@ks-a\none\n@@ks-b\ntwo\nlines\n')).toEqual(
      new Map([
        ['a', 'one'],
        ['b', 'two\nlines'],
      ]),
    );
  });
});
