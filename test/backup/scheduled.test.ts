import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKUP_TIMER, backupScript, backupSettings, formatAge, readScheduledBackup, scheduledBackupHost } from '../../src/backup/scheduled.js';
import { readCheckedSnapshot, snapshotName, snapshotTakenAt } from '../../src/backup/store.js';
import { PKI_PATHS } from '../../src/components/paths.js';
import { KNOWN_KEYS, WIPED_HOST_DIRS } from '../../src/config/keys.js';
import { parsePhaseRecords, phaseRecordLine } from '../../src/engine/host-record.js';
import { withInstalled } from '../../src/engine/installed.js';
import type { RecordResource, Resource } from '../../src/engine/resource.js';
import { hostChecks } from '../../src/health/checks.js';
import { detectOs } from '../../src/os/detect.js';
import { etcdPhase } from '../../src/phases/etcd.js';
import { resetPhases } from '../../src/phases/reset.js';
import { shRun } from '../engine/support.js';
import { factsFor } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: w1, address: 10.0.0.10, roles: [worker] }
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: e2, address: 10.0.0.12, roles: [etcd] }
`;

describe('scheduled etcd backup: what the etcd phase wants', () => {
  const tmp = useTempDir();
  const specWith = (schedule: string, inventory = INVENTORY) => clusterFrom(tmp(), `KUBE_VERSION=v1.35.0\nETCD_BACKUP_SCHEDULE=${schedule}\n`, inventory);
  const etcdResources = (spec: ReturnType<typeof specWith>, name: string): Resource[] => {
    const host = spec.hosts.find((h) => h.name === name)!;
    const facts = factsFor('debian12');
    return etcdPhase.resources({ spec, host, files: [], facts, os: detectOs(host.name, facts) });
  };
  const backupIds = (rs: readonly Resource[]) =>
    rs.flatMap((r) =>
      r.kind === 'service' && r.name === BACKUP_TIMER
        ? [`service:${r.name}`]
        : r.kind === 'file'
          ? [`file:${r.path}`]
          : r.kind === 'directory' && r.path.startsWith('/var/backups')
            ? [`directory:${r.path}`]
            : [],
    );

  it('puts the timer, its service, the script and a 0700 folder on the first etcd member in inventory order only', () => {
    const spec = specWith('*-*-* 02:00:00');
    expect(scheduledBackupHost(spec)?.name).toBe('m1');
    const on = etcdResources(spec, 'm1');
    expect(backupIds(on)).toEqual([
      'directory:/var/backups/kubestrap/etcd',
      'file:/opt/kube/bin/kubestrap-etcd-backup',
      'file:/etc/systemd/system/kubestrap-etcd-backup.service',
      'file:/etc/systemd/system/kubestrap-etcd-backup.timer',
      `service:${BACKUP_TIMER}`,
    ]);
    expect(on).toContainEqual({ kind: 'directory', path: '/var/backups/kubestrap/etcd', mode: 0o700, owner: 'root', group: 'root' });
    expect(on).toContainEqual({ kind: 'service', name: BACKUP_TIMER, enabled: true, running: true });
    const timer = on.find((r) => r.kind === 'file' && r.path.endsWith('.timer'));
    expect(timer).toMatchObject({ restarts: [BACKUP_TIMER] });
    expect(timer?.kind === 'file' && timer.content).toContain('OnCalendar=*-*-* 02:00:00\n');
    expect(backupIds(etcdResources(spec, 'e2'))).toEqual([]);
  });

  it("knows every folder reset deletes with its content (its list is config's own: config does not import components)", () => {
    const spec = specWith('daily');
    const host = spec.hosts[1]!;
    const facts = factsFor('debian12');
    const wiped = resetPhases({ deleteEtcdData: true, restoreOs: true })
      .filter((p) => p.name === 'reset-runtime-state' || p.name === 'reset-record')
      .flatMap((p) => p.resources({ spec, host, files: [], facts, os: detectOs(host.name, facts) }))
      .flatMap((r) => (r.kind === 'absent' && r.recursive ? [r.name] : []));
    expect(wiped.length).toBeGreaterThan(0);
    expect([...WIPED_HOST_DIRS].sort()).toEqual(wiped.sort());
  });

  it('wants none of it anywhere when the schedule is empty (the default)', () => {
    const spec = specWith('');
    expect(scheduledBackupHost(spec)).toBeUndefined();
    for (const name of ['m1', 'e2']) expect(backupIds(etcdResources(spec, name))).toEqual([]);
  });

  /** What the record of a run that installed `wanted` says, as the next run reads it back from the host. */
  const recorded = (wanted: readonly Resource[]) => {
    const record = withInstalled('etcd', wanted, undefined).find((r): r is RecordResource => r.kind === 'record')!;
    return parsePhaseRecords(phaseRecordLine('etcd', record.ids, record.restarts, record.fields)).get('etcd');
  };

  it.each([
    ['the schedule is emptied', 'm1', () => specWith('')],
    [
      'the member is no longer the first etcd member',
      'm1',
      () => specWith('daily', INVENTORY.replace('[etcd, master]', '[master]').replace('[etcd] }', '[etcd] }\n  - { name: e3, address: 10.0.0.13, roles: [etcd] }')),
    ],
  ])('removes what an earlier run installed when %s: the timer stopped first, then its files; the folder only if empty', (_why, name, later) => {
    const before = recorded(etcdResources(specWith('daily'), name));
    const spec = later();
    const host = spec.hosts.find((h) => h.name === name)!;
    const wanted = host.roles.includes('etcd') ? etcdResources(spec, name) : [];
    const absent = withInstalled('etcd', wanted, before).filter((r) => r.kind === 'absent');
    expect(absent.map((r) => r.kind === 'absent' && `${r.of}:${r.name}`)).toEqual(
      expect.arrayContaining([
        `service:${BACKUP_TIMER}`,
        'file:/opt/kube/bin/kubestrap-etcd-backup',
        'file:/etc/systemd/system/kubestrap-etcd-backup.service',
        'file:/etc/systemd/system/kubestrap-etcd-backup.timer',
        'directory:/var/backups/kubestrap/etcd',
      ]),
    );
    // The phase's own absent resources (legacy records) follow; the order that matters is the backup's.
    const order = absent.flatMap((r) => (r.kind === 'absent' && (r.name.includes('kubestrap-etcd-backup') || r.name.startsWith('/var/backups')) ? [r.of] : []));
    expect(order.indexOf('service')).toBeLessThan(order.indexOf('file'));
    expect(order.lastIndexOf('file')).toBeLessThan(order.indexOf('directory'));
  });

  it('refuses a backup folder that is or holds a folder restore or reset wipes, and a schedule that would not stay one line of a unit', () => {
    for (const dir of ['/var/lib/etcd', '/var/lib/etcd/backups', '/var/lib', '/', '/var/lib/kubestrap/backups', '/var/log/kubernetes/', 'relative/dir'])
      expect(KNOWN_KEYS.ETCD_BACKUP_DIR.check(dir), dir).toBeDefined();
    expect(KNOWN_KEYS.ETCD_BACKUP_DIR.check('/srv/etcd-backups')).toBeUndefined();
    for (const bad of ['daily\nExecStart=/bin/evil', 'daily; rm', ' daily', '"daily"']) expect(KNOWN_KEYS.ETCD_BACKUP_SCHEDULE.check(bad), bad).toBeDefined();
    for (const good of ['daily', 'hourly', '*-*-* 02:00:00', 'Mon..Fri 03:30', '*:0/15']) expect(KNOWN_KEYS.ETCD_BACKUP_SCHEDULE.check(good), good).toBeUndefined();
  });
});

/**
 * The service's script, run here in a sandbox: BIN_PATH is a folder of stand-ins for etcdctl (which
 * answers as etcd 3.5 does and writes a snapshot) and etcdutl (which reads it, or fails when told).
 */
describe('scheduled etcd backup: the script on the member', () => {
  const tmp = useTempDir();
  const DATA = 'etcd snapshot bytes';

  function sandbox(opts: { keep?: number; etcdutlFails?: boolean } = {}) {
    const root = tmp();
    const bin = join(root, 'bin');
    const dir = join(root, 'backups', 'etcd');
    mkdirSync(bin);
    const spec = clusterFrom(root, `KUBE_VERSION=v1.35.0\nBIN_PATH=${bin}\nETCD_BACKUP_SCHEDULE=daily\nETCD_BACKUP_DIR=${dir}\nETCD_BACKUP_KEEP=${opts.keep ?? 7}\n`, INVENTORY);
    const host = scheduledBackupHost(spec)!;
    writeFileSync(
      join(bin, 'etcdctl'),
      `#!/bin/sh
echo "$@" >> ${root}/etcdctl.log
case "$*" in
  *"endpoint status"*) echo '[{"Endpoint":"https://127.0.0.1:2379","Status":{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":42,"raft_term":2},"version":"3.5.21","dbSize":20480,"leader":10276657743932975437}}]' ;;
  *"member list"*) printf '%s\\n' '8e9e05c52164694d, started, m1, https://10.0.0.11:2380, https://10.0.0.11:2379, false' '91bc3c398fb3c146, started, e2, https://10.0.0.12:2380,https://10.0.1.12:2380, https://10.0.0.12:2379, false' 'fd422379fda50e48, unstarted, , https://10.0.0.13:2380, , false' ;;
  *"snapshot save"*) for a; do f=$a; done; printf '%s' ${JSON.stringify(DATA)} > "$f.part" && mv "$f.part" "$f" ;;
  *) exit 2 ;;
esac
`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(bin, 'etcdutl'),
      opts.etcdutlFails ? '#!/bin/sh\necho "snapshot file has wrong CRC" >&2\nexit 1\n' : `#!/bin/sh\necho '{"hash":3014358466,"revision":42,"totalKey":7,"totalSize":20480}'\n`,
      { mode: 0o755 },
    );
    const script = join(root, 'backup.sh');
    writeFileSync(script, backupScript(spec, host, backupSettings(spec)), { mode: 0o755 });
    return { root, dir, host, spec, run: () => shRun(script) };
  }

  it('takes a snapshot as etcd root, checks it, stores it 0600 in a 0700 folder with metadata that etcd restore accepts', () => {
    const { root, dir, run } = sandbox();
    const result = run();
    expect(result.code, result.stderr).toBe(0);
    const names = readdirSync(dir);
    expect(names).toHaveLength(2);
    const file = join(dir, names.find((n) => n.endsWith('.db'))!);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}.json`).mode & 0o777).toBe(0o600);
    const { metadata, data } = readCheckedSnapshot(file, 'lab');
    expect(data.toString()).toBe(DATA);
    expect(metadata).toMatchObject({
      cluster: 'lab',
      takenFrom: 'm1',
      etcdVersion: '3.5.21',
      revision: 42,
      clusterId: 'cdf818194e3a8c32',
      members: [
        { id: '8e9e05c52164694d', name: 'm1', peerUrls: ['https://10.0.0.11:2380'] },
        { id: '91bc3c398fb3c146', name: 'e2', peerUrls: ['https://10.0.0.12:2380', 'https://10.0.1.12:2380'] },
      ],
      status: { hash: 3014358466, revision: 42, totalKey: 7, totalSize: 20480 },
    });
    expect(snapshotTakenAt(file.slice(dir.length + 1))?.toISOString()).toBe(metadata.takenAt);
    // The snapshot RPC needs etcd's root once authentication is on: the administrator's certificate.
    const save = readFileSync(join(root, 'etcdctl.log'), 'utf8')
      .split('\n')
      .find((l) => l.includes('snapshot save'));
    expect(save).toContain(`--cert=${PKI_PATHS.etcdAdminClientCert}`);
  });

  it('keeps the newest ETCD_BACKUP_KEEP snapshots and leaves other files alone', () => {
    const { dir, run } = sandbox({ keep: 2 });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    // A run killed outright leaves its temp folder: the next one clears it.
    mkdirSync(join(dir, '.snapshot.Kd93jQ'));
    writeFileSync(join(dir, '.snapshot.Kd93jQ', 'snapshot.db.part'), 'half');
    const runs = [run(), run(), run()];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    const snapshots = readdirSync(dir)
      .filter((n) => n.endsWith('.db'))
      .sort();
    expect(snapshots).toHaveLength(2);
    const newest = runs.at(-1)!.stdout.match(/etcd snapshot \S+\/(etcd-\S+\.db)/)?.[1];
    expect(snapshots.at(-1)).toBe(newest);
    expect(readdirSync(dir).sort()).toEqual([...snapshots.flatMap((s) => [s, `${s}.json`]), 'notes.txt'].sort());
  });

  it('a snapshot etcdutl cannot read fails the run and leaves no file under a snapshot name, nor its temp folder', () => {
    const { dir, run } = sandbox({ etcdutlFails: true });
    const result = run();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('etcdutl snapshot status cannot read the snapshot');
    expect(result.stderr).toContain('wrong CRC');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('scheduled etcd backup: health', () => {
  const tmp = useTempDir();
  const settings = { schedule: 'daily', dir: '/var/backups/kubestrap/etcd', keep: 7 };
  const taken = new Date('2026-12-07T09:00:00.000Z');
  const now = taken.getTime() / 1000 + 3 * 3600 + 60;
  const probe = (lines: Record<string, string>) =>
    Object.entries({
      newest: snapshotName(taken),
      now: String(now),
      'service.ActiveState': 'inactive',
      'service.Result': 'success',
      'service.ExecMainExitTimestamp': 'Mon 2026-12-07 09:00:01 UTC',
      'timer.LoadState': 'loaded',
      'timer.ActiveState': 'active',
      'timer.LastTriggerUSec': 'Mon 2026-12-07 09:00:00 UTC',
      ...lines,
    })
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');

  it('is one more row on the first etcd member only, when the schedule is on', () => {
    const on = clusterFrom(tmp(), 'KUBE_VERSION=v1.35.0\nETCD_BACKUP_SCHEDULE=daily\n', INVENTORY);
    const off = clusterFrom(tmp(), 'KUBE_VERSION=v1.35.0\n', INVENTORY);
    const keys = (spec: typeof on, name: string) => hostChecks(spec, spec.hosts.find((h) => h.name === name)!).map((c) => c.key);
    expect(keys(on, 'm1')).toContain('etcd-scheduled-backup');
    expect(keys(on, 'e2')).not.toContain('etcd-scheduled-backup');
    expect(keys(off, 'm1')).not.toContain('etcd-scheduled-backup');
    const row = hostChecks(on, on.hosts[1]!)
      .find((c) => c.key === 'etcd-scheduled-backup')!
      .read(probe({}));
    expect(row).toEqual([{ check: 'etcd scheduled backup', host: 'm1', ok: true, detail: `newest ${snapshotName(taken)}, 3 h old (/var/backups/kubestrap/etcd, the newest 7 kept)` }]);
  });

  it.each([
    [
      'the last run failed',
      { 'service.ActiveState': 'failed', 'service.Result': 'exit-code' },
      false,
      /^the last scheduled backup failed \(exit-code\): journalctl -u kubestrap-etcd-backup.service .*; newest etcd-.*, 3 h old$/,
    ],
    ['the timer is not installed', { 'timer.LoadState': 'not-found', 'timer.ActiveState': 'inactive' }, false, /^kubestrap-etcd-backup.timer is not installed: nothing is scheduled/],
    ['the timer was stopped', { 'timer.ActiveState': 'inactive' }, false, /^kubestrap-etcd-backup.timer is inactive/],
    ['it ran and left no snapshot', { newest: '' }, false, /^the scheduled backup ran but left no snapshot in \/var\/backups\/kubestrap\/etcd/],
    ['the timer has not fired yet', { newest: '', 'service.ExecMainExitTimestamp': '', 'timer.LastTriggerUSec': 'n/a' }, true, /^no snapshot yet: the timer has not fired \(OnCalendar=daily\)$/],
    ['a run is under way for the first snapshot', { newest: '', 'service.ActiveState': 'activating' }, true, /^no snapshot yet/],
  ])('%s', (_case, lines, ok, detail) => {
    const verdict = readScheduledBackup(probe(lines), settings);
    expect(verdict.ok).toBe(ok);
    expect(verdict.detail).toMatch(detail);
  });

  it('says ages the way an operator reads them', () => {
    expect([formatAge(5), formatAge(600), formatAge(3 * 3600 + 59), formatAge(3 * 86400), formatAge(-20)]).toEqual(['5 s', '10 min', '3 h', '3 days', '0 s']);
  });

  it('reads a snapshot time back from its name', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(snapshotTakenAt(snapshotName(at))?.toISOString()).toBe(at.toISOString());
    expect(snapshotTakenAt('etcd-corrupt.db')).toBeUndefined();
  });
});
