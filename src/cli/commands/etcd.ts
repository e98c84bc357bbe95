import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { restorePlan, describeRestore } from '../../backup/restore-plan.js';
import { reachRestoreHosts, restoreSnapshot, rollbackRestore, type RestoreObserver } from '../../backup/restore.js';
import { takeSnapshot } from '../../backup/snapshot.js';
import { defaultBackupDir, listSnapshots, openBackupDir, readCheckedSnapshot, rotateSnapshots, storeMetadata } from '../../backup/store.js';
import { loadClusterSpec, type ClusterSpec } from '../../config/cluster-spec.js';
import { runHealth, type HealthReport } from '../../health/run.js';
import { displayFilter, printable } from '../../printable.js';
import { targetSecrets } from '../../ssh/auth.js';
import { acquireLock } from '../../state/lock.js';
import { openStateDir } from '../../state/state-dir.js';
import { EXIT_FAILED, EXIT_OK, printWarnings, type CliIo } from '../io.js';
import { etcdBackupReportSchema, etcdRestoreReportSchema } from '../output/etcd-json.js';
import { jsonReport } from '../output/json.js';
import { clusterSources, openSession, outputOption, positiveInt, withConnectionOptions, withInputOptions, type ConnectionOptions, type OutputMode } from '../options.js';
import { UsageError } from '../usage-error.js';
import { confirmApply, type PromptStreams } from '../wizard.js';
import { clientIdentity } from '../../pki/client-identities.js';

interface BackupOptions extends ConnectionOptions {
  out?: string;
  keep?: number;
  output: OutputMode;
}

interface RestoreOptions extends ConnectionOptions {
  yes: boolean;
  rollback: boolean;
  allowMissingMember: boolean;
  output: OutputMode;
}

/** After a restore, kubelets and controllers need a moment to report again: health is asked until it is all ok, this long at most. */
const HEALTH_SETTLE_MS = 120_000;

/** `bootstrap etcd backup|restore`: the cluster's state, saved to the controller and brought back. */
export function etcdCommand(io: CliIo, setExitCode: (code: number) => void, streams: PromptStreams = { input: process.stdin, output: process.stdout }): Command {
  const backup = withConnectionOptions(withInputOptions(new Command('backup')))
    .summary("snapshot etcd from a healthy member into the cluster's state folder, checked when taken")
    .description(
      'Takes a snapshot on the first etcd member that answers (a member that is down is skipped), checks it there (etcdutl snapshot status, sha256), ' +
        'streams it to this machine and removes it from the host in the same command. Stored as etcd-<time>.db (0600) with etcd-<time>.db.json ' +
        '(time, etcd version, revision, members, cluster id, size, sha256) in --out (default <state folder>/backups/etcd, 0700).',
    )
    .option('--out <dir>', 'folder for the snapshot and its metadata (private: 0700)')
    .addOption(new Option('--keep <n>', 'keep only the newest N snapshots in the folder').argParser(positiveInt))
    .addOption(outputOption('report format'))
    .action(async (opts: BackupOptions) => setExitCode(await backupEtcd(io, opts)));
  const restore = withConnectionOptions(withInputOptions(new Command('restore')))
    .argument('[snapshot]', 'the .db file `etcd backup` wrote (or its name in the default backup folder)')
    .summary('bring the cluster back to a snapshot: every member restored, the data from before kept aside (shows it first)')
    .description(
      "Checks the snapshot's sha256 and metadata, copies it to every member and checks it there; then stops the control plane and every etcd member, " +
        "moves each member's data folder aside (kept), restores the snapshot with the inventory's members and a new cluster token, starts the " +
        'members together, waits until they are healthy, starts the control plane and runs the health check. If a step fails it says where, and ' +
        '--rollback puts back the data it moved aside.',
    )
    .option('-y, --yes', 'restore without showing the plan and asking', false)
    .option('--rollback', 'put back the data an earlier restore moved aside, and start etcd and the control plane', false)
    .option('--allow-missing-member', 'restore although an etcd member or master does not answer (it is left out)', false)
    .addOption(outputOption('report format'))
    .action(async (snapshot: string | undefined, opts: RestoreOptions) => setExitCode(await restoreEtcd(io, snapshot, opts, streams)));
  return new Command('etcd').addCommand(backup).addCommand(restore);
}

function loadSpec(io: CliIo, opts: ConnectionOptions): ClusterSpec {
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  return spec;
}

async function backupEtcd(io: CliIo, opts: BackupOptions): Promise<number> {
  const spec = loadSpec(io, opts);
  const state = openStateDir(spec.stateDir, spec.knownHostsFile);
  const dir = opts.out ? resolve(opts.out) : defaultBackupDir(spec.stateDir);
  openBackupDir(dir);
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const lock = acquireLock(state.lockFile, 'bootstrap etcd backup');
  const { session, close } = openSession(spec, opts);
  try {
    const taken = await takeSnapshot(spec, session, dir);
    const file = taken.file;
    storeMetadata(file, taken.metadata);
    const rotated = opts.keep ? rotateSnapshots(dir, opts.keep) : [];
    const m = taken.metadata;
    if (opts.output === 'json') {
      io.stdout.write(jsonReport(etcdBackupReportSchema, { ok: true, file, metadata: m, skipped: taken.skipped, removed: rotated, durationMs: taken.durationMs }, shown));
    } else {
      for (const s of taken.skipped) io.stderr.write(`${shown(`skipped ${s.host}: ${s.reason}`)}\n`);
      io.stdout.write(
        `${shown(
          `etcd snapshot ${file}\n  from ${m.takenFrom}, etcd ${m.etcdVersion}, revision ${m.revision}, cluster ${m.clusterId}, ${m.members.length} member${m.members.length === 1 ? '' : 's'} (${m.members.map((x) => x.name).join(', ')})\n` +
            `  ${m.size} bytes, sha256 ${m.sha256}, ${m.status.totalKey} keys; checked by etcdutl on ${m.takenFrom} and by its hash here (${(taken.durationMs / 1000).toFixed(1)} s)`,
        )}\n${rotated.length ? `removed ${rotated.length} older snapshot${rotated.length === 1 ? '' : 's'} (--keep ${opts.keep}): ${rotated.join(', ')}\n` : ''}`,
      );
    }
    return EXIT_OK;
  } finally {
    await close();
    lock.release();
  }
}

/** A snapshot argument: a path, or a name in the default folder; the newest there when none is given is not guessed. */
function snapshotPath(spec: ClusterSpec, given: string): string {
  if (isAbsolute(given) || existsSync(given)) return resolve(given);
  const inDefault = join(defaultBackupDir(spec.stateDir), given);
  return existsSync(inDefault) ? inDefault : resolve(given);
}

function canAsk(io: CliIo, opts: RestoreOptions, streams: PromptStreams): boolean {
  const terminal = (streams.input as { isTTY?: boolean }).isTTY === true && (streams.output as { isTTY?: boolean }).isTTY === true;
  return terminal && opts.output !== 'json' && io.stdout === process.stdout;
}

async function restoreEtcd(io: CliIo, given: string | undefined, opts: RestoreOptions, streams: PromptStreams): Promise<number> {
  const spec = loadSpec(io, opts);
  if (opts.rollback && given) throw new UsageError('--rollback takes no snapshot', 'run `bootstrap etcd restore --rollback` alone: it puts back the data the last restore moved aside');
  if (!opts.rollback && !given) {
    const newest = listSnapshots(defaultBackupDir(spec.stateDir)).at(-1);
    throw new UsageError('say which snapshot to restore', newest ? `the newest is ${newest}` : 'take one with `bootstrap etcd backup`');
  }
  const confirmed = opts.yes || process.env.CI === 'true';
  if (!confirmed && !canAsk(io, opts, streams)) throw new UsageError('restore replaces the cluster state and asks first, but this is not a terminal', 'pass --yes to restore without asking');
  const state = openStateDir(spec.stateDir, spec.knownHostsFile);
  // The file is checked before any host is reached: a changed snapshot is refused with nothing touched.
  const snapshot = given ? readCheckedSnapshot(snapshotPath(spec, given), spec.name) : undefined;
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const lock = acquireLock(state.lockFile, `bootstrap etcd restore${opts.rollback ? ' --rollback' : ''}`);
  const { session, close } = openSession(spec, opts);
  const observer: RestoreObserver = {
    step: (d) => io.stderr.write(`${shown(`-> ${d}`)}\n`),
    done: (_d, ms) => io.stderr.write(`   done (${(ms / 1000).toFixed(1)} s)\n`),
  };
  const began = Date.now();
  try {
    const { open, missing } = await reachRestoreHosts(spec, session, opts.allowMissingMember);
    let movedBack: string[] | undefined;
    if (snapshot) {
      const plan = restorePlan(spec, new Date(), missing);
      const lines = describeRestore(plan, snapshot);
      if (opts.output !== 'json') io.stdout.write(`${shown(`etcd restore:\n${lines.map((l) => `  ${l}`).join('\n')}`)}\n`);
      if (!confirmed && !(await confirmApply(streams))) {
        io.stderr.write('nothing changed\n');
        return EXIT_OK;
      }
      await restoreSnapshot(spec, session, open, plan, snapshot, observer);
    } else {
      movedBack = (await rollbackRestore(spec, session, open, observer)).movedBack;
    }
    observer.step('run the health check');
    const health = await settledHealth(spec, session);
    const failed = health.rows.filter((r) => !r.ok);
    if (opts.output === 'json') {
      io.stdout.write(jsonReport(etcdRestoreReportSchema, { ok: health.ok, rollback: opts.rollback, movedBack, snapshot: snapshot?.file, durationMs: Date.now() - began, health: health.rows }, shown));
    } else {
      for (const r of failed) io.stdout.write(`${shown(`health FAIL: ${r.check} ${r.host}: ${r.detail}`)}\n`);
      const what = opts.rollback ? `rolled back (data put back on: ${movedBack?.join(', ') || 'no member: none was moved aside'})` : `restored ${snapshot?.file}`;
      io.stdout.write(
        `${printable(what)}; health: ${health.ok ? `all ${health.rows.length} checks ok` : `${failed.length} of ${health.rows.length} checks FAILED`} (${((Date.now() - began) / 1000).toFixed(1)} s)\n`,
      );
    }
    return health.ok ? EXIT_OK : EXIT_FAILED;
  } finally {
    await close();
    lock.release();
  }
}

/** Health until it is all ok (nodes report Ready again once their kubelets reach the API server), or the last answer after the settle time. */
async function settledHealth(spec: ClusterSpec, session: Parameters<typeof runHealth>[1]): Promise<HealthReport> {
  const until = Date.now() + HEALTH_SETTLE_MS;
  for (;;) {
    const report = await runHealth(spec, session, { identities: (name) => clientIdentity(spec, name) });
    if (report.ok || Date.now() > until) return report;
    await new Promise((r) => setTimeout(r, 3000));
  }
}
