import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { LOCK_FILE } from '../../artifacts/lock.js';
import { loadClusterSpec, type ClusterSpec } from '../../config/cluster-spec.js';
import { runSucceeded, type RunReport } from '../../engine/report.js';
import { membershipPhase, resetPhases } from '../../phases/reset.js';
import { localPkiStore } from '../../pki/store.js';
import { resetMarkerPath } from '../../phases/existing-cluster.js';
import { writeFresh } from '../../fresh-file.js';
import { printable } from '../../printable.js';
import { EXIT_FAILED, EXIT_INVALID_INPUT, EXIT_OK, type CliIo } from '../io.js';
import { UsageError } from '../usage-error.js';
import { confirmApply, type PromptStreams } from '../wizard.js';
import { clusterSources, type ConnectionOptions, type OutputMode, outputOption, withConnectionOptions, withInputOptions } from '../options.js';
import { converge, type ConvergeOptions, type RunExtras } from './converge.js';

interface ResetCommandOptions extends ConnectionOptions {
  output: OutputMode;
  limit?: string[];
  yes: boolean;
  deleteEtcdData: boolean;
  restoreOs: boolean;
  deletePki: boolean;
}

/**
 * `bootstrap reset`: takes kubestrap off the hosts, as desired state (see phases/reset.ts): shows
 * what it removes per host and asks, unless --yes (or CI=true). A whole-cluster reset also clears
 * the cluster's local state but its PKI, the only copy of its CAs, unless asked.
 */
export function resetCommand(io: CliIo, setExitCode: (code: number) => void, streams: PromptStreams = { input: process.stdin, output: process.stdout }): Command {
  const command = new Command('reset')
    .description(
      'Stop and disable what kubestrap runs, remove what it installed (from the host record), and what the cluster made at run time: ' +
        "pods' containers and mounts, the pod network's interfaces, the iptables chains and nftables tables of kube-proxy, flannel and CNI, data folders " +
        '(etcd data only with --delete-etcd-data). No table is flushed and no policy changed: the SSH session stays up. The OS settings init ' +
        'changed stay, unless --restore-os. With --limit, a host that is still a member of the running cluster is refused.',
    )
    .addOption(outputOption('progress and report format'))
    .option('--limit <hosts...>', 'reset only these hosts (names, comma- or space-separated); each must have left the cluster')
    .option('-y, --yes', 'reset without showing what goes and asking', false)
    .option('--delete-etcd-data', "also delete etcd's data folder: the cluster's state, gone unless you have a backup", false)
    .option('--restore-os', "also remove kubestrap's sysctl and kernel module files (the running kernel keeps its values until a reboot)", false)
    .option('--delete-pki', "after a whole-cluster reset, also delete the cluster's local PKI (its CAs: the only copy)", false);
  return withConnectionOptions(withInputOptions(command)).action(async (opts: ResetCommandOptions) => setExitCode(await reset(io, opts, streams)));
}

function canAsk(io: CliIo, opts: ResetCommandOptions, streams: PromptStreams): boolean {
  const terminal = (streams.input as { isTTY?: boolean }).isTTY === true && (streams.output as { isTTY?: boolean }).isTTY === true;
  return terminal && opts.output !== 'json' && io.stdout === process.stdout;
}

async function reset(io: CliIo, opts: ResetCommandOptions, streams: PromptStreams): Promise<number> {
  if (opts.deletePki && opts.limit?.length) throw new UsageError('--delete-pki needs a whole-cluster reset', 'drop --limit, or keep the PKI: the rest of the cluster still uses it');
  const confirmed = opts.yes || process.env.CI === 'true';
  if (!confirmed && !canAsk(io, opts, streams)) throw new UsageError('reset removes kubestrap from the hosts and asks first, but this is not a terminal', 'pass --yes to reset without asking');
  const limit = opts.limit?.flatMap((n) => n.split(',')).filter(Boolean);
  let last: RunReport | undefined;
  const extras: RunExtras = {
    command: 'reset',
    phases: () => [...(limit?.length ? [membershipPhase(limit)] : []), ...resetPhases({ deleteEtcdData: opts.deleteEtcdData, restoreOs: opts.restoreOs })],
    after: (report) => {
      last = report;
    },
  };
  const run: ConvergeOptions = { ...opts, verifyBinaries: false };
  if (!confirmed) {
    const planned = await converge(io, 'plan', run, extras);
    if (planned !== EXIT_OK) return planned;
    if (last && nothingToDo(last)) return nothingToReset(io, opts.output);
    if (!(await confirmApply(streams))) {
      io.stderr.write('nothing removed\n');
      return EXIT_OK;
    }
  }
  const code = await converge(io, 'apply', run, extras);
  if (code === EXIT_INVALID_INPUT) return code;
  if (last && nothingToDo(last) && runSucceeded(last)) return nothingToReset(io, opts.output);
  if (code === EXIT_OK && !limit?.length) clearLocalState(io, loadClusterSpec(clusterSources(opts)), opts.deletePki);
  return code === EXIT_OK ? EXIT_OK : EXIT_FAILED;
}

function nothingToDo(report: RunReport): boolean {
  return report.refused.length === 0 && report.results.every((r) => r.changes.length === 0 && r.restarts.length === 0);
}

function nothingToReset(io: CliIo, output: OutputMode): number {
  // JSON output is the report alone: it says so with no changes.
  if (output !== 'json') io.stdout.write('Nothing to reset: no host holds anything of kubestrap or of the cluster.\n');
  return EXIT_OK;
}

/**
 * After a whole-cluster reset, what the controller kept for the cluster goes too: the artifact
 * pins and the hosts' keys. The PKI stays unless asked (its CAs exist nowhere else); the debug logs
 * stay as the record of what was done.
 */
function clearLocalState(io: CliIo, spec: ClusterSpec, deletePki: boolean): void {
  const gone = [join(spec.stateDir, LOCK_FILE), ...(spec.knownHostsFile === join(spec.stateDir, 'known_hosts') ? [spec.knownHostsFile] : [])].filter((f) => existsSync(f));
  for (const f of gone) rmSync(f, { force: true });
  const pki = localPkiStore(spec).dir;
  if (deletePki) rmSync(pki, { recursive: true, force: true });
  // The kept PKI is for the next init, which uses its CAs again instead of refusing them.
  else writeFresh(resetMarkerPath(spec), `${JSON.stringify({ resetAt: new Date().toISOString(), hosts: spec.hosts.map((h) => h.name) })}\n`, 0o600);
  const kept = deletePki
    ? `the cluster's PKI (${pki}) was deleted as asked`
    : `the cluster's PKI is kept in ${pki} (its CAs exist nowhere else): the next init uses it again; delete it yourself, or reset with --delete-pki`;
  io.stderr.write(`${printable(`local state cleared${gone.length ? ` (${gone.join(', ')})` : ''}; ${kept}`)}\n`);
}
