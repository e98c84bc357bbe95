import { COMPONENTS } from '../components/catalog.js';
import { etcdctl } from '../components/clients.js';
import { binaryPath, HOST_PATHS } from '../components/paths.js';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { shJoin, shq } from '../ssh/quote.js';
import { DEFAULT_PORTS } from '../upstream/index.js';
import type { SnapshotMetadata } from './metadata.js';

/**
 * What `etcd restore` does, as data and scripts: the procedure (restore.ts) runs them in order and
 * `--yes`-less runs show the same list before asking. Nothing here talks to a host.
 *
 * The etcd unit keeps `--initial-cluster-state=new` and `--initial-cluster-token=kubestrap-<cluster>`:
 * etcd reads those flags only when its data folder is empty, and after a restore the folder already
 * holds the membership that `etcdutl snapshot restore` wrote (with this restore's own token, so that
 * a member still holding the old data cannot join the restored cluster). So the unit needs no change.
 */

/** Where a restore keeps its working files on a member: the staged snapshot and the marker that `--rollback` reads. */
export const RESTORE_DIR = `${HOST_PATHS.kubestrapDir}/etcd-restore`;
const STAGED = `${RESTORE_DIR}/snapshot.db`;
/** Holds the restore's stamp while the member's data is moved aside: `--rollback` finds the data from it. */
const MARKER = `${RESTORE_DIR}/stamp`;
const DATA = HOST_PATHS.etcdDataDir;
/** What the control plane runs on a master; all of it stops, so that no controller acts on a keyspace about to go back in time. */
export const CONTROL_PLANE_UNITS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => `${c}.service`);

export interface RestorePlan {
  /** `YYYYMMDDTHHMMSSZ`: names the moved-aside folders and the new cluster token. */
  stamp: string;
  token: string;
  /** `name=https://ip:2380,...`: every member of the inventory, as the unit names them. */
  initialCluster: string;
  members: HostSpec[];
  masters: HostSpec[];
  /** Members whose host did not answer, left out as asked (--allow-missing-member). */
  missing: string[];
  /** The folder each member's data is moved to. */
  aside: string;
}

export function restoreStamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function asideDir(stamp: string): string {
  return `${DATA}.before-restore-${stamp}`;
}

export function peerUrl(host: HostSpec): string {
  return `https://${host.nodeIp}:${DEFAULT_PORTS.etcdPeer}`;
}

export function restorePlan(spec: ClusterSpec, now: Date, missing: readonly string[] = []): RestorePlan {
  const stamp = restoreStamp(now);
  const all = spec.hosts.filter((h) => h.roles.includes('etcd'));
  return {
    stamp,
    token: `kubestrap-${spec.name}-restore-${stamp}`,
    initialCluster: all.map((h) => `${h.name}=${peerUrl(h)}`).join(','),
    members: all.filter((h) => !missing.includes(h.name)),
    masters: spec.hosts.filter((h) => h.roles.includes('master') && !missing.includes(h.name)),
    missing: [...missing],
    aside: asideDir(stamp),
  };
}

/** The steps, as the plan shows them before asking. */
export function describeRestore(plan: RestorePlan, snapshot: { file: string; metadata: SnapshotMetadata }): string[] {
  const names = (hs: HostSpec[]) => hs.map((h) => h.name).join(', ') || '(none)';
  const m = snapshot.metadata;
  return [
    `snapshot ${snapshot.file}: taken ${m.takenAt} from ${m.takenFrom}, etcd ${m.etcdVersion}, revision ${m.revision}, ${m.size} bytes, sha256 ${m.sha256} (checked)`,
    `1. copy the snapshot to every member and check it there (${names(plan.members)}); nothing stops before this succeeds`,
    `2. stop the control plane (${CONTROL_PLANE_UNITS.join(', ')}) on the masters (${names(plan.masters)})`,
    `3. stop etcd on every member (${names(plan.members)})`,
    `4. on each member move ${DATA} aside to ${plan.aside} (kept: it is the way back), and restore the snapshot into ${DATA} as members ${plan.initialCluster}, cluster token ${plan.token}`,
    '5. start every member together and wait until each is healthy',
    '6. start the control plane on the masters and wait until the API server is ready',
    '7. run the health check',
    ...(plan.missing.length ? [`left out, as asked: ${plan.missing.join(', ')} (its host does not answer; when it is back, its etcd must be restored too, or it cannot rejoin)`] : []),
  ];
}

/**
 * Receives the snapshot on stdin into the member's restore folder (root only), prints its sha256
 * and `etcdutl snapshot status`, and a stamp left by a restore that was never finished or rolled back.
 */
export function stageScript(host: HostSpec): string {
  return [
    'set -e',
    'umask 077',
    `install -d -m 700 ${shq(HOST_PATHS.kubestrapDir)} ${shq(RESTORE_DIR)}`,
    `if [ -s ${shq(MARKER)} ]; then printf 'unfinished %s\\n' "$(cat ${shq(MARKER)})"; fi`,
    `cat > ${shq(`${STAGED}.part`)}`,
    `mv -f ${shq(`${STAGED}.part`)} ${shq(STAGED)}`,
    `printf 'sha256 %s\\n' "$(sha256sum ${shq(STAGED)} | cut -d' ' -f1)"`,
    `${shJoin([binaryPath(host, 'etcdutl'), 'snapshot', 'status', STAGED, '-w', 'json'])} 2>&1`,
  ].join('\n');
}

export function stopScript(units: readonly string[]): string {
  return shJoin(['systemctl', 'stop', '--', ...units]);
}

/**
 * The member's data goes aside (mv: same file system, instant, nothing deleted), the stamp first so
 * that `--rollback` knows where it went even if the command is cut between the two; then the
 * snapshot is restored into a fresh data folder with the inventory's members and the new token.
 */
export function restoreMemberScript(host: HostSpec, plan: RestorePlan): string {
  return [
    'set -e',
    `if [ -e ${shq(plan.aside)} ]; then echo ${shq(`${plan.aside} exists already`)} >&2; exit 1; fi`,
    `printf '%s\\n' ${shq(plan.stamp)} > ${shq(MARKER)}`,
    `if [ -e ${shq(DATA)} ]; then mv ${shq(DATA)} ${shq(plan.aside)}; fi`,
    shJoin([
      binaryPath(host, 'etcdutl'),
      'snapshot',
      'restore',
      STAGED,
      `--name=${host.name}`,
      `--initial-cluster=${plan.initialCluster}`,
      `--initial-cluster-token=${plan.token}`,
      `--initial-advertise-peer-urls=${peerUrl(host)}`,
      `--data-dir=${DATA}`,
    ]),
    `chmod 700 ${shq(DATA)}`,
  ].join('\n');
}

/** Starts the units; a unit that fails to start adds its journal's last lines to stderr (the error shows them). */
export function startScript(units: readonly string[]): string {
  return `${shJoin(['systemctl', 'start', '--', ...units])} || { ks_rc=$?; for u in ${units.map(shq).join(' ')}; do journalctl -u "$u" -n 12 --no-pager -o cat >&2 || :; done; exit $ks_rc; }`;
}

/** Polls until `check` succeeds, for at most `seconds`; the last failure's output goes to stderr. */
export function waitScript(check: string, seconds: number): string {
  return [
    `ks_end=$(( $(date +%s) + ${seconds} ))`,
    `until ks_out=$( { ${check}; } 2>&1 ); do`,
    `  if [ "$(date +%s)" -ge "$ks_end" ]; then printf '%s\\n' "$ks_out" >&2; exit 1; fi`,
    '  sleep 1',
    'done',
  ].join('\n');
}

/** Every restored member healthy, asked on `on` as the health check's user. */
export function etcdHealthyScript(on: HostSpec, plan: RestorePlan, seconds: number): string {
  const endpoints = plan.members.map((h) => `https://${h.nodeIp}:${DEFAULT_PORTS.etcdClient}`).join(',');
  return waitScript(`${etcdctl(on, endpoints)} endpoint health`, seconds);
}

export function apiserverReadyScript(spec: ClusterSpec): string {
  const readiness = COMPONENTS['kube-apiserver'].service.readiness(spec);
  return waitScript(readiness.check, readiness.timeoutSec);
}

/** Once the cluster runs on the restored data: the staged snapshot and the stamp go; the moved-aside data stays. */
export function finishScript(): string {
  return `rm -f ${shq(STAGED)} ${shq(MARKER)}`;
}

/**
 * `--rollback` on a member: etcd stopped, and if a restore moved its data aside, whatever is in the
 * data folder now (a restored or half-restored copy) goes to `.failed-restore-<stamp>` and the data
 * from before comes back. A member without a stamp keeps its data. Prints what it did.
 */
export function rollbackScript(): string {
  return [
    'set -e',
    `ks_stamp=$(cat ${shq(MARKER)} 2>/dev/null || :)`,
    // The stamp names folders: only the shape restoreStamp gives is used.
    `case "$ks_stamp" in *[!0-9TZ]*) ks_stamp= ;; esac`,
    'systemctl stop etcd.service',
    `if [ -n "$ks_stamp" ] && [ -d "${DATA}.before-restore-$ks_stamp" ]; then`,
    `  if [ -e ${shq(DATA)} ]; then mv ${shq(DATA)} "${DATA}.failed-restore-$ks_stamp"; fi`,
    `  mv "${DATA}.before-restore-$ks_stamp" ${shq(DATA)}`,
    `  echo "moved back ${DATA}.before-restore-$ks_stamp"`,
    'else',
    '  echo "kept"',
    'fi',
    `rm -f ${shq(STAGED)} ${shq(MARKER)}`,
  ].join('\n');
}

/** How to do by hand what `--rollback` does, for the error of a restore that stopped. */
export function manualRollback(plan: RestorePlan): string {
  return (
    `on each etcd member (${plan.members.map((h) => h.name).join(', ')}): systemctl stop etcd; if ${plan.aside} exists: ` +
    `mv ${DATA} ${DATA}.failed-restore-${plan.stamp}; mv ${plan.aside} ${DATA}; then systemctl start etcd on all members at once, ` +
    `and systemctl start ${CONTROL_PLANE_UNITS.join(' ')} on the masters`
  );
}
