import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PKI_PATHS } from '../../src/components/paths.js';
import type { CliRun } from '../support/cli.js';
import { errorsOf, useLabCluster, type LabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * `bootstrap etcd backup` and `restore` on real etcd: a key and a Kubernetes object written, backed
 * up, deleted, restored and read back; a snapshot changed by one byte refused before anything stops;
 * a restore cut off half way (a member's sshd gone while it restores) rolled back with --rollback.
 */
const BIN = '/opt/kube/bin';
const asRoot = `${BIN}/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=${PKI_PATHS.etcdCaCert} --cert=${PKI_PATHS.etcdAdminClientCert} --key=${PKI_PATHS.etcdAdminClientKey} --command-timeout=5s`;
const kubectl = `${BIN}/kubectl --kubeconfig=${PKI_PATHS.adminConf} --request-timeout=10s`;
const KEY = '/e2e/backup-probe';
const CONFIGMAP = 'backup-probe';
/** What is restored here is etcd's state; the pod check (health --deep's, in init's verify) is another file's subject and doubles init's time. */
const NO_POD_CHECK = { VERIFY_PODS: 'false' };

async function readBack(hosts: LabHosts, member: number, master: number): Promise<{ key: string; configmap: string }> {
  const key = (await hosts.exec(member, `${asRoot} get ${KEY} --print-value-only`)).stdout.trim();
  const cm = await hosts.exec(master, `${kubectl} get configmap ${CONFIGMAP} -n default -o jsonpath='{.data.v}'`);
  return { key, configmap: cm.code === 0 ? cm.stdout.trim() : '(absent)' };
}

async function writeBoth(hosts: LabHosts, member: number, master: number, value: string): Promise<void> {
  await hosts.run(member, `${asRoot} put ${KEY} ${value} >/dev/null`);
  await hosts.run(master, `${kubectl} create configmap ${CONFIGMAP} -n default --from-literal=v=${value} --dry-run=client -o yaml | ${kubectl} apply -f - >/dev/null`);
}

async function deleteBoth(hosts: LabHosts, member: number, master: number): Promise<void> {
  await hosts.run(member, `${asRoot} del ${KEY} >/dev/null`);
  await hosts.run(master, `${kubectl} delete configmap ${CONFIGMAP} -n default >/dev/null`);
}

async function active(hosts: LabHosts, i: number, unit: string): Promise<string> {
  return (await hosts.exec(i, `systemctl is-active ${unit}`)).stdout.trim();
}

function shown(run: CliRun): string {
  return `exit ${run.code}\n${run.stdout}\n${run.stderr}`;
}

async function nodesReady(hosts: LabHosts, master: number): Promise<string[]> {
  const out = await hosts.run(master, `${kubectl} get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'`);
  return out.split('\n').filter(Boolean);
}

async function backup(cluster: LabCluster, extra: string[] = []): Promise<{ file: string; durationMs: number; metadata: { members: unknown[]; sha256: string; size: number; revision: number } }> {
  const run = await cluster.cli(['etcd', 'backup', '--output', 'json', ...extra]);
  expect(run.code, shown(run)).toBe(0);
  return JSON.parse(run.stdout) as { file: string; durationMs: number; metadata: { members: unknown[]; sha256: string; size: number; revision: number } };
}

describe.skipIf(!labAvailable())('etcd backup and restore', () => {
  describe('three members', () => {
    const hosts = useLabHosts(3, { prefix: 'eb' });
    const roles = [
      ['etcd', 'master'],
      ['etcd', 'worker'],
      ['etcd', 'worker'],
    ];
    const cluster = useLabCluster(hosts, { layout: (i) => roles[i]!, properties: NO_POD_CHECK });
    let snapshot = '';

    it('init makes the cluster', async () => {
      const { run, report } = await cluster.json('init', ['--yes']);
      expect(run.code, `${run.stderr}\n${errorsOf(report)}`).toBe(0);
    }, 300_000);

    it('backs up a key and an object: a checked snapshot, private, with its metadata; --keep rotates', async () => {
      await writeBoth(hosts, 1, 0, 'before-backup');
      const first = await backup(cluster);
      const taken = await backup(cluster, ['--keep', '1']);
      snapshot = taken.file;
      console.log(`3-member etcd backup: ${taken.durationMs} ms (${taken.metadata.size} bytes)`);
      expect(taken.metadata.members).toHaveLength(3);
      expect(taken.metadata.revision).toBeGreaterThan(0);
      const dir = join(snapshot, '..');
      expect(readdirSync(dir).sort()).toEqual([snapshot.slice(dir.length + 1), `${snapshot.slice(dir.length + 1)}.json`].sort());
      expect(first.file).not.toBe(snapshot);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(snapshot).mode & 0o777).toBe(0o600);
      expect(statSync(`${snapshot}.json`).mode & 0o777).toBe(0o600);
      // Nothing of it stays on the member that served it.
      for (const i of [0, 1, 2]) expect((await hosts.exec(i, 'ls -d /tmp/kubestrap-snapshot.* 2>/dev/null')).stdout).toBe('');
    });

    it('a snapshot with one byte changed is refused before anything stops', async () => {
      await deleteBoth(hosts, 1, 0);
      const bad = join(cluster.dir, 'etcd-corrupt.db');
      copyFileSync(snapshot, bad);
      copyFileSync(`${snapshot}.json`, `${bad}.json`);
      const data = readFileSync(bad);
      const at = Math.floor(data.length / 2);
      data[at] = (data[at] ?? 0) ^ 0x01;
      writeFileSync(bad, data);
      const run = await cluster.cli(['etcd', 'restore', bad, '--yes']);
      expect(run.code, shown(run)).toBe(2);
      expect(run.stderr).toContain('is not the snapshot that was taken');
      for (const i of [0, 1, 2]) expect(await active(hosts, i, 'etcd')).toBe('active');
      expect(await active(hosts, 0, 'kube-apiserver')).toBe('active');
    });

    it('a restore cut off half way (a member loses its SSH while it restores) says how to go back, and --rollback brings the cluster back', async () => {
      // The third member's etcdutl stalls in `snapshot restore` until the test has cut its SSH, then fails.
      await hosts.run(
        2,
        `mv ${BIN}/etcdutl ${BIN}/etcdutl.real && printf '%s\\n' '#!/bin/sh' 'if [ "$2" = restore ]; then touch /tmp/restoring; sleep 120; exit 1; fi' 'exec ${BIN}/etcdutl.real "$@"' > ${BIN}/etcdutl && chmod 755 ${BIN}/etcdutl`,
      );
      try {
        const running = cluster.cli(['etcd', 'restore', snapshot, '--yes']);
        for (let i = 0; i < 120 && (await hosts.exec(2, 'test -e /tmp/restoring')).code !== 0; i++) await new Promise((r) => setTimeout(r, 250));
        await hosts.run(2, 'systemctl stop ssh.service; pkill sshd; :');
        const run = await running;
        expect(run.code, shown(run)).toBe(1);
        expect(run.stderr).toContain('restore stopped at "move each member');
        expect(run.stderr).toContain('bootstrap etcd restore --rollback');
        expect(await active(hosts, 0, 'kube-apiserver')).not.toBe('active');
      } finally {
        await hosts.run(2, `pkill -x sleep; rm -f /tmp/restoring; mv -f ${BIN}/etcdutl.real ${BIN}/etcdutl; systemctl start ssh.service`);
      }
      const rollback = await cluster.cli(['etcd', 'restore', '--rollback', '--yes']);
      const journal = rollback.code === 0 ? '' : (await hosts.exec(2, 'journalctl -u etcd -n 40 --no-pager -o cat; ls -la /var/lib/ /var/lib/etcd /var/lib/kubestrap/etcd-restore')).stdout;
      expect(rollback.code, `${shown(rollback)}\n${journal}`).toBe(0);
      expect(rollback.stdout).toMatch(/rolled back \(data put back on: .*eb/);
      // The data from before the restore: the key and the object were deleted then.
      expect(await readBack(hosts, 1, 0)).toEqual({ key: '', configmap: '(absent)' });
    });

    it('restore brings back the key and the object; health is all ok and every node Ready', async () => {
      const run = await cluster.cli(['etcd', 'restore', snapshot, '--yes']);
      expect(run.code, shown(run)).toBe(0);
      expect(run.stdout).toContain('health: all');
      expect(await readBack(hosts, 2, 0)).toEqual({ key: 'before-backup', configmap: 'before-backup' });
      const health = await cluster.cli(['health']);
      expect(health.code, health.stdout).toBe(0);
      expect(await nodesReady(hosts, 0)).toEqual([`${hosts.host(1).name}=True`, `${hosts.host(2).name}=True`]);
      // The data from before is kept aside on every member.
      for (const i of [0, 1, 2]) expect((await hosts.run(i, 'ls -d /var/lib/etcd.before-restore-*')).split('\n').filter(Boolean).length).toBeGreaterThan(0);
    });

    it('a member that is down is skipped by backup; restore refuses a member that does not answer', async () => {
      await hosts.run(0, 'systemctl stop etcd.service');
      try {
        const run = await cluster.cli(['etcd', 'backup', '--output', 'json']);
        expect(run.code, shown(run)).toBe(0);
        const taken = JSON.parse(run.stdout) as { metadata: { takenFrom: string; members: unknown[] }; skipped: Array<{ host: string }> };
        expect([taken.metadata.takenFrom, taken.metadata.members.length, taken.skipped.map((x) => x.host)]).toEqual([hosts.host(1).name, 3, [hosts.host(0).name]]);
      } finally {
        await hosts.run(0, 'systemctl start etcd.service');
      }
      await hosts.run(2, 'systemctl stop ssh.service');
      try {
        const run = await cluster.cli(['etcd', 'restore', snapshot, '--yes', '--connect-timeout', '2']);
        expect(run.code, shown(run)).toBe(1);
        expect(run.stderr).toContain('--allow-missing-member');
        expect(await active(hosts, 0, 'kube-apiserver')).toBe('active');
      } finally {
        await hosts.run(2, 'systemctl start ssh.service');
      }
    });
  });

  describe('one member', () => {
    const hosts = useLabHosts(1, { prefix: 'e1' });
    const cluster = useLabCluster(hosts, { layout: () => ['etcd', 'master', 'worker'], properties: NO_POD_CHECK });

    it('init, back up a key and an object, delete both, restore: both are back, health ok, the node Ready', async () => {
      const { run, report } = await cluster.json('init', ['--yes']);
      expect(run.code, `${run.stderr}\n${errorsOf(report)}`).toBe(0);
      await writeBoth(hosts, 0, 0, 'single');
      const taken = await backup(cluster);
      expect(taken.metadata.members).toHaveLength(1);
      await deleteBoth(hosts, 0, 0);
      expect(await readBack(hosts, 0, 0)).toEqual({ key: '', configmap: '(absent)' });
      const restored = await cluster.cli(['etcd', 'restore', taken.file, '--yes']);
      expect(restored.code, shown(restored)).toBe(0);
      expect(await readBack(hosts, 0, 0)).toEqual({ key: 'single', configmap: 'single' });
      const health = await cluster.cli(['health']);
      expect(health.code, health.stdout).toBe(0);
      expect(await nodesReady(hosts, 0)).toEqual([`${hosts.host(0).name}=True`]);
    }, 360_000);
  });
});
