import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSnapshotOutput, readSnapshotOutput, snapshotScript, streamSnapshot } from '../../src/backup/snapshot.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { sha256 } from '../../src/backup/store.js';
import { HostError } from '../../src/errors.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const DATA = Buffer.from([0, 1, 2, 250, 251, 252, 64, 64, 10, 13]);
const STATUS = '[{"Endpoint":"https://127.0.0.1:2379","Status":{"header":{"cluster_id":14841639068965178418,"member_id":1,"revision":99,"raft_term":2},"version":"3.5.30","dbSize":20480}}]';
const MEMBERS = '8e9e05c52164694d, started, m1, https://10.0.0.11:2380, https://10.0.0.11:2379, false\n91bc3c398fb3c146, started, e1, https://10.0.0.13:2380, https://10.0.0.13:2379, false';

function arrived(data: Buffer) {
  return { size: data.length, sha256: sha256(data) };
}

function output(data: Buffer, overrides: Record<string, string> = {}): string {
  const sections: Record<string, string> = {
    status: STATUS,
    members: MEMBERS,
    check: '{"hash":3,"revision":99,"totalKey":12,"totalSize":20480}',
    sha256: sha256(data),
    size: String(data.length),
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
    // stdout carries the snapshot's bytes only: the report goes to stderr.
    expect(script.split('\n').slice(0, 2)).toEqual(['umask 077', 'exec 3>&1 1>&2']);
    expect(script).toContain('cat "$ks_dir/snapshot.db" >&3');
  });

  /** A member whose command streams `data` in 64 KiB chunks, each written only once the last was taken, and reports `report`. */
  function streamingMember(data: Buffer, report: string) {
    let buffered = 0;
    const remote: RemoteHost = {
      name: 'm1',
      stats: { handshakes: 1, execs: 0, sftpOps: 0 },
      run: async () => ({ code: 0, stdout: '', stderr: '' }),
      runWithInput: async () => ({ code: 0, stdout: '', stderr: '' }),
      async runToOutput(_script, out) {
        for (let off = 0; off < data.length; off += 64 * 1024) {
          if (!out.write(data.subarray(off, off + 64 * 1024))) await once(out, 'drain');
          buffered = Math.max(buffered, out.writableLength);
        }
        out.end();
        await once(out, 'finish');
        return { code: 0, stdout: '', stderr: report };
      },
      putFile: async () => ({ written: true }),
      close: async () => undefined,
    };
    return { remote, maxBuffered: () => buffered };
  }

  it('streams a large snapshot to a 0600 file in the folder, hashed on the way, never whole in memory', async () => {
    const s = spec();
    const dir = join(tmp(), 'backups');
    mkdirSync(dir);
    const big = randomBytes(8 * 1024 * 1024 + 5);
    const member = streamingMember(big, output(big));
    const takenAt = new Date('2026-01-02T03:04:05Z');
    const { file, metadata } = await streamSnapshot(s, s.hosts[0]!, member.remote, dir, takenAt);
    expect(file).toBe(join(dir, 'etcd-20260102T030405.000Z.db'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(sha256(readFileSync(file))).toBe(sha256(big));
    expect(metadata).toMatchObject({ size: big.length, sha256: sha256(big) });
    expect(readdirSync(dir)).toEqual(['etcd-20260102T030405.000Z.db']);
    // Backpressure: what waited in memory stayed within a stream's high-water mark and a chunk.
    expect(member.maxBuffered()).toBeLessThan(256 * 1024);
  });

  it('leaves no file when what arrived is not what the member hashed', async () => {
    const s = spec();
    const dir = join(tmp(), 'backups');
    mkdirSync(dir);
    const member = streamingMember(Buffer.from('cut sh'), output(DATA));
    await expect(streamSnapshot(s, s.hosts[0]!, member.remote, dir, new Date())).rejects.toThrow(/changed on its way/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('turns what the member reported and what arrived into the metadata', () => {
    const s = spec();
    const metadata = readSnapshotOutput(s, s.hosts[0]!, output(DATA), arrived(DATA), new Date('2026-01-02T03:04:05Z'));
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
    const read =
      (out: string, got = arrived(DATA)) =>
      () =>
        readSnapshotOutput(s, s.hosts[0]!, out, got, new Date());
    expect(read(output(DATA), arrived(Buffer.from('other')))).toThrow(/changed on its way/);
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
