import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { snapshotMetadataSchema } from '../../src/backup/metadata.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import type { CliRun } from '../support/cli.js';
import { errorsOf, useLabCluster, type JsonReport, type LabCluster } from './support/cluster.js';
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

    it('a scheduled backup: apply sets it up on the first member only; its run leaves a checked snapshot there, 0600 in 0700; health shows its age; emptied, apply removes timer, service and script and keeps the snapshots', async () => {
      const dir = '/var/backups/kubestrap/etcd';
      const unit = 'kubestrap-etcd-backup';
      const ids = [`directory:${dir}`, `file:${BIN}/${unit}`, `file:/etc/systemd/system/${unit}.service`, `file:/etc/systemd/system/${unit}.timer`, `service:${unit}.timer`];
      const planned = (report: JsonReport, i: number) =>
        report.results.filter((r) => r.host === hosts.host(i).name).flatMap((r) => r.changes.map((c) => c.resource).filter((id) => id.includes(unit) || id.includes(dir)));
      cluster.setProperty('ETCD_BACKUP_SCHEDULE', '*-*-* 03:00:00');
      const plan = await cluster.json('plan');
      expect(plan.run.code, `${plan.run.stderr}\n${errorsOf(plan.report)}`).toBe(0);
      expect(planned(plan.report, 0).sort()).toEqual([...ids].sort());
      expect([planned(plan.report, 1), planned(plan.report, 2)]).toEqual([[], []]);
      const apply = await cluster.json('apply');
      expect(apply.run.code, `${apply.run.stderr}\n${errorsOf(apply.report)}`).toBe(0);
      expect(await active(hosts, 0, `${unit}.timer`)).toBe('active');
      for (const i of [1, 2]) expect(await hosts.run(i, `ls -d /etc/systemd/system/${unit}.* ${BIN}/${unit} ${dir} 2>/dev/null; true`)).toBe('');

      // The timer's run, started by hand: a oneshot, so systemctl returns once it is done.
      const started = await hosts.exec(0, `systemctl start ${unit}.service`);
      const journal = started.code === 0 ? '' : (await hosts.exec(0, `journalctl -u ${unit} -n 30 --no-pager -o cat`)).stdout;
      expect(started.code, `${started.stderr}\n${journal}`).toBe(0);
      const names = (await hosts.run(0, `ls -A ${dir}`)).split('\n').filter(Boolean);
      expect(names).toHaveLength(2);
      const snapshot = names.find((n) => n.endsWith('.db'))!;
      expect(names).toEqual([snapshot, `${snapshot}.json`]);
      expect((await hosts.run(0, `stat -c '%a %U' ${dir} ${dir}/${snapshot} ${dir}/${snapshot}.json`)).trim()).toBe('700 root\n600 root\n600 root');
      // Its metadata is the controller store's: a copy brought here is one etcd restore takes.
      const metadata = snapshotMetadataSchema.parse(JSON.parse(await hosts.run(0, `cat ${dir}/${snapshot}.json`)));
      expect([metadata.takenFrom, metadata.members.length, metadata.sha256]).toEqual([hosts.host(0).name, 3, (await hosts.run(0, `sha256sum ${dir}/${snapshot}`)).split(' ')[0]]);
      expect((await hosts.exec(0, `${BIN}/etcdutl snapshot status ${dir}/${snapshot} -w json`)).code).toBe(0);

      const health = await cluster.cli(['health', '--output', 'json']);
      const rows = (JSON.parse(health.stdout) as { checks: Array<{ check: string; host: string; ok: boolean; detail: string }> }).checks.filter((r) => r.check === 'etcd scheduled backup');
      console.log(`scheduled backup health row: ${JSON.stringify(rows)}`);
      expect(rows.map((r) => [r.host, r.ok])).toEqual([[hosts.host(0).name, true]]);
      expect(rows[0]!.detail).toMatch(new RegExp(`^newest ${snapshot.replace(/\./g, '\\.')}, \\d+ (s|min) old`));

      // Emptied: the next apply removes what it set up; the snapshots are the user's data and stay.
      cluster.setProperty('ETCD_BACKUP_SCHEDULE', '');
      const removal = await cluster.json('apply');
      expect(removal.run.code, `${removal.run.stderr}\n${errorsOf(removal.report)}`).toBe(0);
      expect(planned(removal.report, 0).sort()).toEqual(ids.filter((id) => !id.startsWith('directory:')).sort());
      expect(await hosts.run(0, `ls -d /etc/systemd/system/${unit}.* ${BIN}/${unit} 2>/dev/null; true`)).toBe('');
      expect((await hosts.run(0, `systemctl show -p LoadState ${unit}.timer`)).trim()).toBe('LoadState=not-found');
      expect((await hosts.run(0, `ls -A ${dir}`)).split('\n').filter(Boolean)).toEqual(names);
      const after = await cluster.cli(['health', '--output', 'json']);
      expect((JSON.parse(after.stdout) as { checks: Array<{ check: string }> }).checks.map((r) => r.check)).not.toContain('etcd scheduled backup');
    }, 600_000);
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
