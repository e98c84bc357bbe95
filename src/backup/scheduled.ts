import { LOCAL_ETCD } from '../components/catalog.js';
import { etcdctl } from '../components/clients.js';
import { binaryPath, HOST_PATHS } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import type { Resource } from '../engine/resource.js';
import { shJoin, shq } from '../ssh/quote.js';
import { SNAPSHOT_METADATA_FORMAT } from './metadata.js';
import { METADATA_SUFFIX, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX, snapshotTakenAt } from './store.js';

/**
 * The scheduled backup (ETCD_BACKUP_SCHEDULE): a systemd timer on the first etcd member of the
 * inventory starts a oneshot service that takes a snapshot there, as `etcd backup` does (etcd's root
 * user, `etcdutl snapshot status`, sha256), and keeps it on the member in ETCD_BACKUP_DIR as
 * `etcd-<time>.db` (0600, in a 0700 folder) with its `.db.json` in the controller store's format, so
 * a copy brought to the controller is one `etcd restore` takes. The newest ETCD_BACKUP_KEEP stay.
 *
 * The etcd phase wants these resources on that member only; everywhere else, and everywhere once the
 * schedule is empty, it wants none, and the engine's record removes what an earlier run installed
 * (timer stopped and disabled, then the files; the folder only when empty: snapshots are the user's).
 */
export const BACKUP_UNIT = 'kubestrap-etcd-backup';
export const BACKUP_SERVICE = `${BACKUP_UNIT}.service`;
export const BACKUP_TIMER = `${BACKUP_UNIT}.timer`;

/** The member that takes the scheduled snapshots: the first etcd member in inventory order, when a schedule is set. */
export function scheduledBackupHost(spec: ClusterSpec): HostSpec | undefined {
  if (!spec.values.ETCD_BACKUP_SCHEDULE) return undefined;
  return spec.hosts.find((h) => h.roles.includes('etcd'));
}

/** The scheduled backup's properties, read once. */
export interface BackupSettings {
  schedule: string;
  dir: string;
  keep: number;
}

export function backupSettings(spec: ClusterSpec): BackupSettings {
  return { schedule: spec.values.ETCD_BACKUP_SCHEDULE ?? '', dir: spec.values.ETCD_BACKUP_DIR!, keep: Number(spec.values.ETCD_BACKUP_KEEP) };
}

/** Where the script the service runs lives: next to etcdctl and etcdutl, which it runs. */
export function backupScriptPath(host: HostSpec): string {
  return `${host.values.BIN_PATH}/${BACKUP_UNIT}`;
}

/** The etcd phase's resources for the scheduled backup on `host`: none unless it is the member that takes them. */
export function scheduledBackupResources(spec: ClusterSpec, host: HostSpec): Resource[] {
  if (scheduledBackupHost(spec)?.name !== host.name) return [];
  const settings = backupSettings(spec);
  const file = (path: string, content: string, mode = 0o644, restarts: string[] = []): Resource => ({ kind: 'file', path, content, mode, owner: 'root', group: 'root', restarts });
  return [
    { kind: 'directory', path: settings.dir, mode: 0o700, owner: 'root', group: 'root' },
    file(backupScriptPath(host), backupScript(spec, host, settings), 0o755),
    file(`${HOST_PATHS.systemdDir}/${BACKUP_SERVICE}`, serviceUnit(host, settings)),
    // A new schedule takes effect when the timer restarts.
    file(`${HOST_PATHS.systemdDir}/${BACKUP_TIMER}`, timerUnit(settings), 0o644, [BACKUP_TIMER]),
    { kind: 'service', name: BACKUP_TIMER, enabled: true, running: true },
  ];
}

function serviceUnit(host: HostSpec, s: BackupSettings): string {
  return `# Managed by kubestrap (ETCD_BACKUP_SCHEDULE): one etcd snapshot into ${s.dir}, started by ${BACKUP_TIMER}.
[Unit]
Description=etcd snapshot into ${s.dir} (kubestrap)
After=etcd.service

[Service]
Type=oneshot
ExecStart=${backupScriptPath(host)}
# A backup must not slow the member it copies.
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
`;
}

function timerUnit(s: BackupSettings): string {
  return `# Managed by kubestrap: ETCD_BACKUP_SCHEDULE, ETCD_BACKUP_KEEP and ETCD_BACKUP_DIR in config.properties.
[Unit]
Description=scheduled etcd snapshot (kubestrap)

[Timer]
OnCalendar=${s.schedule}
# A run missed while the host was off happens once it is back.
Persistent=true
Unit=${BACKUP_SERVICE}

[Install]
WantedBy=timers.target
`;
}

/**
 * The service's script. It works in a private temp folder inside ETCD_BACKUP_DIR (same filesystem),
 * and a snapshot gets its name only once it is checked, by a hard link that fails rather than
 * replace a file of that name: no partial file ever has a snapshot's name. Its metadata follows
 * (a snapshot without one is not listed, by the store or by health), then rotation. Any failure
 * exits non-zero, which the service's result and `bootstrap health` show.
 */
export function backupScript(spec: ClusterSpec, host: HostSpec, s: BackupSettings): string {
  const root = etcdctl(host, LOCAL_ETCD, 'admin');
  const etcdutl = binaryPath(host, 'etcdutl');
  const fail = (what: string, log: string) => `{ echo ${shq(what)} >&2; cat "${log}" >&2; exit 1; }`;
  return `#!/bin/sh
# Managed by kubestrap: the scheduled etcd snapshot (ETCD_BACKUP_SCHEDULE), run by ${BACKUP_SERVICE}.
set -eu
umask 077
# Glob order is byte order: snapshot names sort by time.
export LC_ALL=C
dir=${shq(s.dir)}
keep=${s.keep}
mkdir -p -m 700 "$dir"
# What a run killed outright (no trap ran) left: systemd never runs this unit twice at once.
rm -rf -- "$dir"/.snapshot.*
work=$(mktemp -d "$dir/.snapshot.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
name="${SNAPSHOT_PREFIX}$(printf '%s' "$at" | tr -d ':-')${SNAPSHOT_SUFFIX}"
# As etcd's root: the snapshot RPC needs it once authentication is on.
${root} endpoint status -w json >"$work/status" 2>&1 || ${fail('etcd did not answer endpoint status', '$work/status')}
${root} member list >"$work/members" 2>&1 || ${fail('etcd did not answer member list', '$work/members')}
# etcdctl writes <file>.part and renames it: the file exists only when whole. The later timeout wins.
${root} --command-timeout=600s snapshot save "$work/snapshot.db" >"$work/log" 2>&1 || ${fail('etcdctl snapshot save failed', '$work/log')}
${shJoin([etcdutl, 'snapshot', 'status'])} "$work/snapshot.db" -w json >"$work/check" 2>&1 || ${fail('etcdutl snapshot status cannot read the snapshot', '$work/check')}
check=$(grep -m1 '^{"hash":' "$work/check") || ${fail('etcdutl snapshot status gave no status', '$work/check')}
sha=$(sha256sum "$work/snapshot.db" | cut -d' ' -f1)
size=$(wc -c <"$work/snapshot.db" | tr -d ' ')
version=$(sed -n 's/.*"version":"\\([^"]*\\)".*/\\1/p' "$work/status")
revision=$(sed -n 's/.*"revision":\\([0-9]*\\).*/\\1/p' "$work/status")
# A 64-bit id: printf reads it unsigned, JSON tools would round it.
cluster=$(sed -n 's/.*"cluster_id":\\([0-9]*\\).*/\\1/p' "$work/status")
cluster_id=$(printf '%x' "\${cluster:-0}")
# member list: id, status, name, peer URLs, client URLs, is learner; an unstarted member has no name yet.
members=$(awk -F', ' '$3 != "" { n = split($4, u, ","); urls = ""; for (i = 1; i <= n; i++) urls = urls (i > 1 ? "," : "") "\\"" u[i] "\\""; printf "%s{\\"id\\":\\"%s\\",\\"name\\":\\"%s\\",\\"peerUrls\\":[%s]}", sep, $1, $3, urls; sep = "," }' "$work/members")
[ -n "$version" ] && [ -n "$revision" ] && [ -n "$cluster" ] && [ -n "$members" ] || ${fail('cannot read what etcd said', '$work/status')}
printf '{"format":${SNAPSHOT_METADATA_FORMAT},"cluster":%s,"takenAt":"%s","takenFrom":%s,"etcdVersion":"%s","revision":%s,"clusterId":"%s","members":[%s],"size":%s,"sha256":"%s","status":%s}\\n' \\
  ${shq(JSON.stringify(spec.name))} "$at" ${shq(JSON.stringify(host.name))} "$version" "$revision" "$cluster_id" "$members" "$size" "$sha" "$check" >"$work/metadata"
# ln fails if the name is taken: a snapshot is never replaced, and never has its name before it is whole.
ln "$work/snapshot.db" "$dir/$name"
mv "$work/metadata" "$dir/$name${METADATA_SUFFIX}"
set --
for f in "$dir"/${SNAPSHOT_PREFIX}*${SNAPSHOT_SUFFIX}; do
  if [ -f "$f${METADATA_SUFFIX}" ]; then set -- "$@" "$f"; fi
done
while [ "$#" -gt "$keep" ]; do
  rm -f -- "$1${METADATA_SUFFIX}" "$1"
  shift
done
echo "etcd snapshot $dir/$name: $size bytes, sha256 $sha, revision $revision"
`;
}

/**
 * What `bootstrap health` reads on the member (inside its one command): the newest snapshot that has
 * its metadata, the member's clock, and what systemd says of the service's last run and the timer.
 */
export function scheduledBackupProbe(s: BackupSettings): string {
  const show = (unit: string, as: string, ...props: string[]) => `systemctl show ${props.map((p) => `-p ${p}`).join(' ')} -- ${unit} | sed 's/^/${as}./'`;
  return [
    `ks_n=; for ks_f in ${shq(s.dir)}/${SNAPSHOT_PREFIX}*${SNAPSHOT_SUFFIX}; do if [ -f "$ks_f${METADATA_SUFFIX}" ]; then ks_n=\${ks_f##*/}; fi; done; echo "newest=$ks_n"`,
    'echo "now=$(date +%s)"',
    show(BACKUP_SERVICE, 'service', 'ActiveState', 'Result', 'ExecMainExitTimestamp'),
    show(BACKUP_TIMER, 'timer', 'LoadState', 'ActiveState', 'LastTriggerUSec'),
  ].join('\n');
}

/**
 * The health row's verdict. Failing: the timer is not installed or not running (nothing is being
 * taken), the last run failed, or it ran and left no snapshot. Fine: the newest snapshot, with its
 * age by the member's clock; or none yet because the timer has not fired since it was set up.
 */
export function readScheduledBackup(output: string, s: BackupSettings): { ok: boolean; detail: string } {
  const v = new Map(output.split('\n').flatMap((l) => (l.includes('=') ? [[l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()] as const] : [])));
  const newest = v.get('newest') || undefined;
  const taken = newest ? snapshotTakenAt(newest) : undefined;
  const now = Number(v.get('now'));
  const journal = `journalctl -u ${BACKUP_SERVICE} on the member says why`;
  const newestLine = taken && newest ? `newest ${newest}, ${formatAge(now - taken.getTime() / 1000)} old` : undefined;
  const withNewest = (text: string) => `${text}; ${newestLine ?? `no snapshot in ${s.dir}`}`;
  const timer = v.get('timer.LoadState') === 'loaded' ? (v.get('timer.ActiveState') ?? '') : 'not installed';
  if (timer !== 'active') return { ok: false, detail: withNewest(`${BACKUP_TIMER} is ${timer || 'unknown'}: nothing is scheduled (bootstrap apply sets it up)`) };
  const state = v.get('service.ActiveState') ?? '';
  const result = v.get('service.Result') ?? '';
  if (state === 'failed' || (result !== '' && result !== 'success')) return { ok: false, detail: withNewest(`the last scheduled backup failed (${result || state}): ${journal}`) };
  if (!newestLine) {
    const ran = [v.get('service.ExecMainExitTimestamp'), v.get('timer.LastTriggerUSec')].some((t) => t !== undefined && t !== '' && t !== 'n/a');
    return ran && state !== 'activating'
      ? { ok: false, detail: `the scheduled backup ran but left no snapshot in ${s.dir}: ${journal}` }
      : { ok: true, detail: `no snapshot yet: the timer has not fired (OnCalendar=${s.schedule})` };
  }
  return { ok: true, detail: `${newestLine} (${s.dir}, the newest ${s.keep} kept)` };
}

/** An age as an operator reads it: seconds, minutes, hours, then days. A clock behind the name's reads as 0 s. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} days`;
}
