import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeRestore, restoreMemberScript, restorePlan, rollbackScript } from '../../src/backup/restore-plan.js';
import { reachRestoreHosts, restoreSnapshot } from '../../src/backup/restore.js';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import { ClusterSession } from '../../src/engine/session.js';
import { HostError, RestoreError, SnapshotError, SshError } from '../../src/errors.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import type { SshTarget } from '../../src/ssh/target.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { metadataFor } from './support.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: e2, address: 10.0.0.12, roles: [etcd, worker] }
  - { name: e3, address: 10.0.0.13, roles: [etcd, worker] }
`;
const DATA = Buffer.from('snapshot bytes');
const NOW = new Date('2026-03-04T05:06:07.890Z');

/** Hosts that answer each command with `answer` (by host and script) and log what they ran. */
function fakeSession(hosts: readonly HostSpec[], answer: (host: string, script: string) => { code: number; stdout: string }, down: string[] = []) {
  const ran: string[] = [];
  const remote = (name: string): RemoteHost => ({
    name,
    stats: { handshakes: 1, execs: 0, sftpOps: 0 },
    async run(script) {
      ran.push(`${name}: ${script}`);
      return { ...answer(name, script), stderr: '' };
    },
    async runWithInput(script) {
      ran.push(`${name}: stage`);
      return { ...answer(name, script), stderr: '' };
    },
    async runToOutput() {
      throw new Error('a restore reads no stream from a host');
    },
    async putFile() {
      return { written: true };
    },
    async close() {},
  });
  const session = new ClusterSession(hosts, {
    concurrency: 5,
    connect: async (target: SshTarget) => {
      const host = hosts.find((h) => h.ssh === target)!;
      if (down.includes(host.name)) throw new SshError(host.name, 'connect', 'connection refused');
      return remote(host.name);
    },
  });
  return { session, ran };
}

const staged = (sha: string) => `sha256 ${sha}\n{"hash":123,"revision":7,"totalKey":42,"totalSize":14}\n`;

describe('etcd restore', () => {
  const tmp = useTempDir();
  const spec = () => clusterFrom(tmp(), 'KUBE_VERSION=v1.35.0\n', INVENTORY);
  const snapshot = () => ({ file: '/backups/etcd-x.db', data: DATA, metadata: metadataFor(DATA) });

  it('plans every inventory member with its peer URL, a new token and a dated aside folder, and shows it', () => {
    const plan = restorePlan(spec(), NOW);
    expect(plan).toMatchObject({
      stamp: '20260304T050607Z',
      token: 'kubestrap-lab-restore-20260304T050607Z',
      initialCluster: 'm1=https://10.0.0.11:2380,e2=https://10.0.0.12:2380,e3=https://10.0.0.13:2380',
      aside: '/var/lib/etcd.before-restore-20260304T050607Z',
    });
    expect(plan.masters.map((h) => h.name)).toEqual(['m1']);
    const script = restoreMemberScript(plan.members[1]!, plan);
    expect(script).toContain('mv /var/lib/etcd /var/lib/etcd.before-restore-20260304T050607Z');
    expect(script).toContain(
      "'--name=e2' '--initial-cluster=m1=https://10.0.0.11:2380,e2=https://10.0.0.12:2380,e3=https://10.0.0.13:2380' '--initial-cluster-token=kubestrap-lab-restore-20260304T050607Z' '--initial-advertise-peer-urls=https://10.0.0.12:2380' '--data-dir=/var/lib/etcd'",
    );
    // The stamp is written before the move: --rollback finds the data even if the command is cut between them.
    expect(script.indexOf('/stamp')).toBeLessThan(script.indexOf('mv /var/lib/etcd'));
    expect(script).not.toMatch(/rm -rf/);
    expect(describeRestore(plan, snapshot()).join('\n')).toContain('move /var/lib/etcd aside to /var/lib/etcd.before-restore-20260304T050607Z (kept');
    expect(rollbackScript()).not.toMatch(/rm -rf|rm -r /);
    // Every path is spelled out: no template placeholder left for the shell to read as an empty variable.
    for (const script of [rollbackScript(), restoreMemberScript(plan.members[0]!, plan)]) expect(script).not.toContain('${');
  });

  it('runs the steps in order: check everywhere, then control plane down, etcd down, data aside, start together', async () => {
    const s = spec();
    const { session, ran } = fakeSession(s.hosts, () => ({ code: 0, stdout: staged(metadataFor(DATA).sha256) }));
    const { open } = await reachRestoreHosts(s, session, false);
    await restoreSnapshot(s, session, open, restorePlan(s, NOW), snapshot(), { step: () => {} });
    const first = (needle: string) => ran.findIndex((l) => l.includes(needle));
    expect(ran.filter((l) => l.endsWith('stage'))).toHaveLength(3);
    expect(first('stage')).toBeLessThan(first('kube-apiserver.service'));
    expect(first('systemctl stop -- kube-apiserver.service')).toBeGreaterThan(0);
    expect(first('systemctl stop -- kube-apiserver.service')).toBeLessThan(first('systemctl stop -- etcd.service'));
    expect(first('systemctl stop -- etcd.service')).toBeLessThan(first('before-restore'));
    expect(first('before-restore')).toBeLessThan(first('systemctl start -- etcd.service'));
    expect(first('systemctl start -- etcd.service')).toBeLessThan(first('systemctl start -- kube-apiserver.service'));
  });

  it('refuses before anything stops when a copy on a member is not the snapshot, or a restore was left unfinished', async () => {
    const s = spec();
    const bad = fakeSession(s.hosts, (host) => ({ code: 0, stdout: staged(host === 'e3' ? 'f'.repeat(64) : metadataFor(DATA).sha256) }));
    const open = (await reachRestoreHosts(s, bad.session, false)).open;
    await expect(restoreSnapshot(s, bad.session, open, restorePlan(s, NOW), snapshot(), { step: () => {} })).rejects.toThrow(SnapshotError);
    expect(bad.ran.filter((l) => !l.endsWith('stage'))).toEqual([]);
    const unfinished = fakeSession(s.hosts, () => ({ code: 0, stdout: `unfinished 20260101T000000Z\n${staged(metadataFor(DATA).sha256)}` }));
    const open2 = (await reachRestoreHosts(s, unfinished.session, false)).open;
    await expect(restoreSnapshot(s, unfinished.session, open2, restorePlan(s, NOW), snapshot(), { step: () => {} })).rejects.toThrow(/never finished or rolled back/);
    expect(unfinished.ran.filter((l) => !l.endsWith('stage'))).toEqual([]);
  });

  it('a step that fails after the stop says where it stopped and how to put the data back', async () => {
    const s = spec();
    const { session } = fakeSession(s.hosts, (host, script) => ({
      code: host === 'e3' && script.includes('snapshot') && script.includes('restore') && !script.includes('status') ? 1 : 0,
      stdout: staged(metadataFor(DATA).sha256),
    }));
    const { open } = await reachRestoreHosts(s, session, false);
    const err = await restoreSnapshot(s, session, open, restorePlan(s, NOW), snapshot(), { step: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).message).toContain('restore stopped at "move each member');
    expect((err as RestoreError).hint).toContain('bootstrap etcd restore --rollback');
    expect((err as RestoreError).hint).toContain('mv /var/lib/etcd.before-restore-20260304T050607Z /var/lib/etcd');
  });

  it('refuses when a member does not answer unless asked, and always without a quorum of the others', async () => {
    const s = spec();
    const one = fakeSession(s.hosts, () => ({ code: 0, stdout: '' }), ['e3']);
    await expect(reachRestoreHosts(s, one.session, false)).rejects.toThrow(expect.objectContaining({ hint: expect.stringContaining('--allow-missing-member') }));
    expect((await reachRestoreHosts(s, one.session, true)).missing).toEqual(['e3']);
    expect(restorePlan(s, NOW, ['e3']).members.map((h) => h.name)).toEqual(['m1', 'e2']);
    const two = fakeSession(s.hosts, () => ({ code: 0, stdout: '' }), ['e2', 'e3']);
    await expect(reachRestoreHosts(s, two.session, true)).rejects.toThrow(HostError);
  });
});

describe('restore and rollback on a member, run in a sandbox', () => {
  const tmp = useTempDir();

  /** The script with the host's paths moved under `root`, and systemctl and etcdutl stand-ins there. */
  function sandboxed(root: string, script: string): string {
    return script.replaceAll('/var/lib/', `${root}/var/lib/`).replaceAll('/opt/kube/bin/', `${root}/bin/`).replaceAll('systemctl ', `${root}/bin/systemctl `);
  }

  it('moves the data aside, restores, and --rollback puts the data from before back, keeping the restored copy', () => {
    const root = tmp();
    const s = clusterFrom(root, 'KUBE_VERSION=v1.35.0\n', INVENTORY);
    const plan = restorePlan(s, NOW);
    mkdirSync(`${root}/var/lib/etcd/member`, { recursive: true });
    writeFileSync(`${root}/var/lib/etcd/member/old`, 'old data');
    mkdirSync(`${root}/var/lib/kubestrap/etcd-restore`, { recursive: true });
    mkdirSync(`${root}/bin`);
    writeFileSync(`${root}/bin/systemctl`, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    // etcdutl snapshot restore ... --data-dir=DIR: makes DIR with the restored data.
    writeFileSync(`${root}/bin/etcdutl`, '#!/bin/sh\nfor a; do case "$a" in --data-dir=*) mkdir -p "${a#--data-dir=}/member" && echo restored > "${a#--data-dir=}/member/new" ;; esac; done\n', {
      mode: 0o755,
    });
    const run = (script: string) => execFileSync('sh', ['-c', sandboxed(root, script)], { encoding: 'utf8' });
    run(restoreMemberScript(s.hosts[0]!, plan));
    expect(readFileSync(`${root}/var/lib/etcd/member/new`, 'utf8')).toBe('restored\n');
    expect(readFileSync(`${root}${plan.aside}/member/old`, 'utf8')).toBe('old data');
    // A second restore of the same stamp refuses rather than move the restored copy over the data from before.
    expect(() => run(restoreMemberScript(s.hosts[0]!, plan))).toThrow();
    expect(run(rollbackScript())).toContain('moved back');
    expect(readFileSync(`${root}/var/lib/etcd/member/old`, 'utf8')).toBe('old data');
    expect(readFileSync(`${root}/var/lib/etcd.failed-restore-${plan.stamp}/member/new`, 'utf8')).toBe('restored\n');
    expect(existsSync(`${root}/var/lib/kubestrap/etcd-restore/stamp`)).toBe(false);
    // Nothing to roll back any more: the data stays as it is.
    expect(run(rollbackScript())).toContain('kept');
    expect(readFileSync(`${root}/var/lib/etcd/member/old`, 'utf8')).toBe('old data');
  });

  it('a member cut off after the move and before the restore gets its data back too', () => {
    const root = tmp();
    const s = clusterFrom(root, 'KUBE_VERSION=v1.35.0\n', INVENTORY);
    const plan = restorePlan(s, NOW);
    mkdirSync(`${root}/var/lib/etcd/member`, { recursive: true });
    mkdirSync(`${root}/var/lib/kubestrap/etcd-restore`, { recursive: true });
    mkdirSync(`${root}/bin`);
    writeFileSync(`${root}/bin/systemctl`, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(`${root}/bin/etcdutl`, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const run = (script: string) => execFileSync('sh', ['-c', sandboxed(root, script)], { encoding: 'utf8' });
    expect(() => run(restoreMemberScript(s.hosts[0]!, plan))).toThrow();
    expect(existsSync(`${root}/var/lib/etcd`)).toBe(false);
    expect(run(rollbackScript())).toContain('moved back');
    expect(existsSync(`${root}/var/lib/etcd/member`)).toBe(true);
  });
});
