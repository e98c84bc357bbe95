import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterContext, ClusterHost } from '../../src/phases/context.js';
import { factsScript, parseFacts, readFact } from '../../src/engine/facts.js';
import { clockProblems } from '../../src/preflight/clock.js';
import { DISK_FACT, diskProblems, mountOf, parseMounts } from '../../src/preflight/disk.js';
import { LISTENERS_FACT, portProblems } from '../../src/preflight/ports.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { fakeTools, sh, shRun } from '../engine/support.js';
import { CGROUP_FS_SNIPPET } from '../../src/preflight/cgroup.js';
import { debianAdapter } from '../../src/os/debian.js';

/** This machine as a cluster host: its real facts, with the preflight snippets run for real. */
function thisMachine(dir: string, over: Partial<ClusterHost['facts']> = {}): ClusterContext {
  const spec = clusterFrom(dir, '');
  const host = spec.hosts[0]!;
  const sentAt = Date.now();
  const facts = {
    ...parseFacts(shRun(factsScript({ [LISTENERS_FACT.key]: LISTENERS_FACT.snippet as string, [DISK_FACT.key]: DISK_FACT.snippet as string })).stdout, { sentAt, receivedAt: Date.now() }),
    ...over,
  };
  // PID 1 here is not systemd: the OS part of a host does not matter to these checks.
  return { spec, mode: 'apply', hosts: [{ host, facts, os: { adapter: debianAdapter, arch: 'amd64', label: 'Debian GNU/Linux 12 (apt)' }, files: [] }] };
}

describe('preflight checks', () => {
  const tmp = useTempDir();
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  it('clock: refuses a host more than 30 s off, saying how far and which way', () => {
    expect(clockProblems(thisMachine(tmp()))).toEqual([]);
    const ahead = thisMachine(tmp(), { clockSkewMs: 95_000 });
    expect(clockProblems(ahead).map((e) => e.format())).toEqual([
      `${ahead.hosts[0]!.host.name}: its clock is 95 s ahead of this machine's (more than 30 s): certificates would be refused as not yet valid or expired\n  fix: synchronise the clocks (chrony or systemd-timesyncd against one NTP source on every host and here), then re-run`,
    ]);
    expect(clockProblems(thisMachine(tmp(), { clockSkewMs: -31_000 }))[0]?.message).toContain('31 s behind');
  });

  it("ports: the real listener list names this test's own socket with its process", () => {
    const ctx = thisMachine(tmp());
    const mine = readFact(ctx.hosts[0]!.facts, LISTENERS_FACT).find((l) => l.port === port);
    expect(mine).toMatchObject({ port, pid: process.pid });
  });

  it('ports: refuses a port another process holds, naming it and the fix; accepts the unit that needs it', () => {
    const ctx = thisMachine(tmp());
    const name = ctx.hosts[0]!.host.name;
    const [problem] = portProblems(ctx, () => [{ port, unit: 'kube-apiserver.service', key: 'KUBE_APISERVER_PORT' }]);
    expect(problem?.format()).toMatch(
      new RegExp(
        `^${name}: port ${port}, which kube-apiserver needs, is held by \\S+ \\(pid ${process.pid}\\)\\n  fix: stop and disable that process on ${name}, or choose another port with KUBE_APISERVER_PORT$`,
      ),
    );
    const held = { ...ctx, hosts: [{ ...ctx.hosts[0]!, facts: { ...ctx.hosts[0]!.facts, extra: { [LISTENERS_FACT.key]: `${port} 77 kube-apiserver kube-apiserver.service` } } }] };
    expect(portProblems(held, () => [{ port, unit: 'kube-apiserver.service' }])).toEqual([]);
    expect(portProblems(held, () => [{ port, unit: 'etcd.service' }])[0]?.message).toBe(`port ${port}, which etcd needs, is held by kube-apiserver (pid 77, kube-apiserver.service)`);
  });

  it('disk: finds the mount a path lives on and refuses when the needs on one file system exceed its free space', () => {
    const mounts = parseMounts('1000 /\n5 /var\n100 /var/lib/etcd2\n');
    expect(mountOf('/var/lib/etcd', mounts)?.mountPoint).toBe('/var');
    expect(mountOf('/opt/kube/bin', mounts)?.mountPoint).toBe('/');
    const ctx = thisMachine(tmp());
    expect(diskProblems(ctx, () => [{ path: '/opt/kube/bin', bytes: 1024, what: 'binaries' }])).toEqual([]);
    const small = { ...ctx, hosts: [{ ...ctx.hosts[0]!, facts: { ...ctx.hosts[0]!.facts, extra: { [DISK_FACT.key]: '1024 /\n' } } }] };
    const [problem] = diskProblems(small, () => [
      { path: '/opt/kube/bin', bytes: 600 * 1024, what: 'binaries' },
      { path: '/var/lib/etcd', bytes: 600 * 1024, what: 'etcd data' },
    ]);
    expect(problem?.message).toBe('/ has 1 MiB free, but binaries in /opt/kube/bin (1 MiB) and etcd data in /var/lib/etcd (1 MiB) need 2 MiB');
  });

  it('cgroup: the type of /sys/fs/cgroup as stat prints it, here without stat', () => {
    expect(sh(CGROUP_FS_SNIPPET)).toBe(sh('stat -fc %T /sys/fs/cgroup'));
    const noStat = fakeTools(tmp(), { stat: 'echo ran' });
    if (sh('stat -fc %T /sys/fs/cgroup').trim() !== 'cgroup2fs' && !existsSync('/sys/fs/cgroup/systemd')) return;
    expect(sh(CGROUP_FS_SNIPPET, noStat)).not.toContain('ran');
  });

  it("disk: reads df's POSIX table as the host prints it (mount points with blanks, a file system of no size)", () => {
    const df = [
      'Filesystem     1024-blocks    Used Available Capacity Mounted on',
      '/dev/vda          264212084 44908812  61482100      43% /',
      'tmpfs               24683784        0  24683784       0% /run/my disk',
      'none                       0        0         0        - /proc/fs/x',
    ].join('\n');
    expect(parseMounts(df)).toEqual([
      { freeBytes: 61482100 * 1024, mountPoint: '/' },
      { freeBytes: 24683784 * 1024, mountPoint: '/run/my disk' },
      { freeBytes: 0, mountPoint: '/proc/fs/x' },
    ]);
  });
});
