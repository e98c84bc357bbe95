import { Command, Option } from 'commander';
import { loadClusterSpec, type ClusterSpec, type HostSpec } from '../../config/cluster-spec.js';
import type { HostFacts } from '../../engine/facts.js';
import type { ClusterSession } from '../../engine/session.js';
import type { ClusterContext, KubestrapPhase } from '../../phases/context.js';
import { InvalidInputError, type KubestrapError, type Warning } from '../../errors.js';
import { runSucceeded, type RunReport } from '../../engine/report.js';
import { runPhases, type RunMode, type RunObserver, type StageName } from '../../engine/runner.js';
import { hostDescriber } from '../../phases/describe.js';
import { readsRoles } from '../../phases/phase.js';
import { upgradeProblems } from '../../phases/upgrade-preflight.js';
import { upgradeSteps, type UpgradeStep } from '../../phases/upgrade-view.js';
import { RunArtifacts } from '../../artifacts/provider.js';
import { availablePhaseNames, hostValues, PHASES, selectPhases, type PhaseEntry, type PhaseInputs } from '../../phases/index.js';
import { BUNDLED_UNITS } from '../../package-root.js';
import { localPkiStore } from '../../pki/store.js';
import { reconcilePki } from '../../pki/reconcile.js';
import { displayFilter } from '../../printable.js';
import type { RenderedFile } from '../../render/render-cluster.js';
import { targetSecrets } from '../../ssh/auth.js';
import { acquireLock } from '../../state/lock.js';
import { RunLog } from '../../state/run-log.js';
import { openStateDir } from '../../state/state-dir.js';
import { EXIT_FAILED, EXIT_INVALID_INPUT, EXIT_OK, printWarnings, type CliIo } from '../io.js';
import { downloadProgress } from '../output/download-progress.js';
import { plainProgress } from '../output/progress-plain.js';
import { reportJson } from '../output/report-json.js';
import { issuanceLines } from '../output/pki-text.js';
import { formatReport, runClosingLine } from '../output/report-text.js';
import { clusterSources, openSession, outputOption, positiveInt, withConnectionOptions, withInputOptions, type ConnectionOptions, type OutputMode } from '../options.js';
import { checkedTemplates } from '../run-inputs.js';
import { forRemainingHosts, leavePhases } from '../../phases/membership/leave.js';
import { UsageError } from '../usage-error.js';

export interface ConvergeOptions extends ConnectionOptions {
  templates?: string;
  phase?: string[];
  limit?: string[];
  /** Hosts marked remove: true that are not contacted: the cluster forgets them, the hosts are left as they are. */
  forget?: string[];
  output: OutputMode;
  bundle?: string;
  artifactsManifest?: string;
  verifyBinaries: boolean;
  /** Absent where the command has no such option (reset): one node at a time. */
  maxUnavailable?: number;
}

/** `plan` and `apply` share everything but the mode: same inputs, same probes, same diff. */
export function convergeCommand(io: CliIo, mode: RunMode, setExitCode: (code: number) => void): Command {
  const phases = availablePhaseNames().join(', ');
  const command = new Command(mode).description(
    mode === 'plan'
      ? 'Connect to every host, read its state, and print exactly what `apply` would change: file diffs, services to restart, packages to install. Changes nothing.'
      : 'Connect to every host, read its state, and change only what differs; restart only the services whose inputs changed.',
  );
  return withConvergeOptions(withInputOptions(command))
    .option('--phase <names...>', `only these phases (${phases})`)
    .option('--limit <hosts...>', 'change only these hosts (names, comma- or space-separated); the others are read, not changed')
    .option('--forget <hosts...>', 'hosts marked remove: true that are gone for good: the cluster forgets them (Node, etcd member, endpoints) without contacting them')
    .action(async (opts: ConvergeOptions) => setExitCode(await converge(io, mode, opts)));
}

/** The options plan and apply share with `init`. */
export function withConvergeOptions(command: Command): Command {
  return withConnectionOptions(command)
    .option('-t, --templates <dir>', "template tree (default: kubestrap's units/)")
    .addOption(outputOption('progress and report format'))
    .option('--bundle <dir>', 'take every artifact from this offline bundle (bootstrap bundle create) and never use the network')
    .option('--artifacts-manifest <file>', 'your own builds: a manifest (bundle format) whose entries replace the upstream downloads')
    .option('--verify-binaries', 'hash every installed binary on every host, whatever kubestrap recorded', false)
    .addOption(new Option('--max-unavailable <n>', 'nodes drained at once when their kubelet or kube-proxy restarts (an upgrade)').default(1).argParser(positiveInt));
}

/** What a command adds to a plan or apply run. */
export interface RunExtras {
  /** Checked across all hosts before anything changes, with the phases' own preflights. */
  preflight?: (ctx: ClusterContext) => KubestrapError[];
  /** Refuse before connecting, given the cluster's spec (e.g. a CA already in the state folder). */
  before?: (spec: ClusterSpec) => void;
  /** The run's name in the lock and the debug log. */
  command?: string;
  /**
   * The phases of another procedure on the hosts (reset), instead of the bring-up's: they need no
   * templates, PKI or artifacts.
   */
  phases?: () => KubestrapPhase[];
  /** Sees the run's report before it is printed. */
  after?: (report: RunReport) => void;
}

/** Runs plan or apply; returns the exit code (the report is printed). */
export async function converge(io: CliIo, mode: RunMode, opts: ConvergeOptions, extras: RunExtras = {}): Promise<number> {
  const entries = extras.phases ? [] : choosePhases(opts.phase);
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  extras.before?.(spec);
  const command = extras.command ?? mode;
  const limit = limitedHosts(spec, opts.limit);
  const membership = membershipOf(spec, opts, extras);

  // Hosts' output is parsed raw; what is shown or logged has every password and passphrase redacted.
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const state = openStateDir(spec.stateDir, spec.knownHostsFile);
  const lock = acquireLock(state.lockFile, `bootstrap ${command}`);
  const log = new RunLog(state.logsDir, command, shown);
  const opened = openSession(spec, opts, (e) => log.write(e), membership.hosts);
  // Download progress goes to the run's view once it exists; warnings about artifacts are said after the report.
  const notes: RunNotes = { draw: () => undefined, warnings: [] };
  let report: RunReport;
  // The versions the run moves, worked out from what the hosts' records say once they are read.
  let upgrade: UpgradeStep[] = [];
  try {
    log.write({ event: 'start', mode, cluster: spec.name, phases: entries.map((p) => p.name), hosts: spec.hosts.map((h) => h.name) });
    // The inventory and config checked and the lock held: the handshakes can go on while the
    // templates are checked and the PKI is prepared (a handshake changes nothing on a host). One
    // turn of the event loop first: the early connections reach their TCP connect without waiting
    // on anything else, and a host that answers at once gets its first packet before the checks,
    // which hold the loop, run.
    opened.session.connectEarly(limit);
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Rendered once with what a fresh host would be, so bad templates are refused before any host changes.
    const templates = checkedTemplates(spec, opts.templates ?? BUNDLED_UNITS, !extras.phases, limit);
    // Under the lock: two runs must not both create a CA.
    const pki = entries.some((e) => e.needsPki) ? await preparePki(io, log, spec, mode) : undefined;
    // One set of artifacts for the run: the runtime's release binaries and the others share the cache, lock file and bundle.
    const artifacts = runArtifacts(io, opts, notes);
    const phases =
      extras.phases?.() ??
      membership.phases(
        entries.map((e) => e.build({ ...(pki ? { pki } : {}), artifacts, install: { verifyBinaries: opts.verifyBinaries }, ...(opts.maxUnavailable ? { maxUnavailable: opts.maxUnavailable } : {}) })),
      );
    const filesFor: FilesFor = (host, facts) => {
      if (extras.phases) return [];
      const rendered = templates.renderHost(host, hostValues(host, facts));
      if (rendered.problems.length) throw new InvalidInputError(rendered.problems);
      return rendered.files;
    };
    report = await runOnHosts(
      io,
      mode,
      opts,
      opened.session,
      spec,
      phases,
      filesFor,
      limit,
      log,
      notes,
      extras.phases ? extras.preflight : withUpgradeRules(extras.preflight, (ctx) => (upgrade = upgradeSteps(ctx, phases, opts.maxUnavailable ?? 1, limit))),
    );
    log.write({ event: 'end', ok: runSucceeded(report), durationMs: report.durationMs });
    extras.after?.(report);
  } finally {
    await opened.close();
    lock.release();
    log.close();
  }
  printWarnings(io, [...notes.warnings, ...membership.forgotten]);
  // A refused run moves nothing.
  const moved = report.refused.length ? [] : upgrade;
  io.stdout.write(opts.output === 'json' ? reportJson(report, shown, moved) : formatReport(report, shown, moved));
  if (opts.output !== 'json') io.stderr.write(`debug log: ${log.file}\n${runClosingLine(report)}\n`);
  if (report.refused.length) return EXIT_INVALID_INPUT;
  return runSucceeded(report) ? EXIT_OK : EXIT_FAILED;
}

interface Membership {
  /** The session's hosts: the leaving ones too, but the forgotten. */
  hosts: HostSpec[];
  phases(bringUp: KubestrapPhase[]): KubestrapPhase[];
  forgotten: Warning[];
}

/**
 * Hosts marked remove: true leave the cluster in a run of every phase (leavePhases); a run of some
 * phases (--phase) leaves them alone. Hosts named by --forget are not contacted, and said so.
 */
function membershipOf(spec: ClusterSpec, opts: ConvergeOptions, extras: RunExtras): Membership {
  const forget = opts.forget?.flatMap((n) => n.split(',')).filter(Boolean) ?? [];
  const strangers = forget.filter((n) => !spec.leaving.some((h) => h.name === n));
  if (strangers.length) {
    throw new UsageError(
      `--forget names ${strangers.join(', ')}, which the inventory does not mark remove: true`,
      'mark the host remove: true in the inventory first; --forget only says that it will not answer',
    );
  }
  // A procedure of its own (reset) covers every host the inventory lists: a whole-cluster reset leaves none behind.
  if (extras.phases) return { hosts: [...spec.hosts, ...spec.leaving], phases: (bringUp) => bringUp, forgotten: [] };
  const leaves = !opts.phase?.length && spec.leaving.length > 0;
  if (!leaves) return { hosts: spec.hosts, phases: (bringUp) => bringUp, forgotten: [] };
  return {
    hosts: [...spec.hosts, ...spec.leaving.filter((h) => !forget.includes(h.name))],
    phases: (bringUp) => [...bringUp.map(forRemainingHosts), ...leavePhases(spec, forget)],
    forgotten: forget.map((name) => ({
      where: name,
      message: 'is not contacted (--forget): the cluster forgets it (Node, etcd member, endpoints); what kubestrap installed on the host stays there',
      hint: `if it comes back, take kubestrap off it with bootstrap reset --limit ${name} (with an inventory that lists it), before it starts etcd or a kubelet again`,
    })),
  };
}

function limitedHosts(spec: ClusterSpec, names: string[] | undefined): string[] | undefined {
  const requested = names?.flatMap((n) => n.split(',')).filter(Boolean);
  if (!requested) return undefined;
  const listed = [...spec.hosts, ...spec.leaving].map((h) => h.name);
  const unknown = requested.filter((n) => !listed.includes(n));
  if (unknown.length) throw new UsageError(`--limit names ${unknown.join(', ')}, which the inventory does not have`, `choose from: ${listed.join(', ')}`);
  return requested;
}

/** The PKI this run distributes, prepared in memory; what it issues is said (names and reasons only) before the run. */
async function preparePki(io: CliIo, log: RunLog, spec: ClusterSpec, mode: RunMode): Promise<NonNullable<PhaseInputs['pki']>> {
  const store = localPkiStore(spec);
  const prepared = await reconcilePki(spec, store, { now: new Date() });
  printWarnings(io, prepared.warnings);
  for (const line of issuanceLines(prepared.issued, mode)) io.stderr.write(`${line}\n`);
  log.write({ event: 'pki', issued: prepared.issued });
  return { prepared, storeDir: store.dir };
}

type FilesFor = (host: HostSpec, facts: HostFacts) => readonly RenderedFile[];

interface RunNotes {
  draw(text: string): void;
  warnings: Warning[];
}

/** Where this run's binaries and images come from: the bundle, the user's own builds, or verified downloads. */
function runArtifacts(io: CliIo, opts: ConvergeOptions, notes: RunNotes): RunArtifacts {
  return new RunArtifacts({
    ...(opts.bundle ? { bundleDir: opts.bundle } : {}),
    ...(opts.artifactsManifest ? { manifestFile: opts.artifactsManifest } : {}),
    progress: downloadProgress({ draw: (text) => notes.draw(text), ...(opts.output === 'plain' ? { line: (text: string) => io.stderr.write(`${text}\n`) } : {}) }),
    warn: (warning) => notes.warnings.push(warning),
  });
}

async function runOnHosts(
  io: CliIo,
  mode: RunMode,
  opts: ConvergeOptions,
  session: ClusterSession<HostSpec>,
  spec: ClusterSpec,
  phases: KubestrapPhase[],
  filesFor: FilesFor,
  limit: string[] | undefined,
  log: RunLog,
  notes: RunNotes,
  preflight: RunExtras['preflight'],
): Promise<RunReport> {
  const view = await progressView(io, opts.output, phases);
  notes.draw = (text) => view.note(text);
  try {
    return await runPhases({
      session,
      spec,
      describe: hostDescriber(filesFor),
      phases,
      mode,
      ...(limit ? { limit } : {}),
      // The upgrade rules compare each host's versions with the control plane's: a limited run reads masters and etcd members.
      ...(preflight ? { preflight, limitReads: readsRoles('master', 'etcd') } : {}),
      ...(view.observer ? { observer: view.observer } : {}),
      log: (e) => log.write(e),
    });
  } finally {
    await view.close();
  }
}

/**
 * The bring-up's runs also follow upstream's upgrade rules: a version edit they refuse changes
 * nothing. The same look at every host's versions gives the report its upgrade steps (`seen`).
 */
function withUpgradeRules(preflight: RunExtras['preflight'], seen: (ctx: ClusterContext) => void): NonNullable<RunExtras['preflight']> {
  return (ctx) => {
    seen(ctx);
    return [...upgradeProblems(ctx), ...(preflight?.(ctx) ?? [])];
  };
}

function choosePhases(names: string[] | undefined): PhaseEntry[] {
  const requested = names?.flatMap((n) => n.split(',')).filter(Boolean);
  const unknown = requested?.filter((n) => !PHASES.some((p) => p.name === n)) ?? [];
  if (unknown.length) {
    throw new UsageError(`unknown phase ${unknown.join(', ')}`, `choose from: ${availablePhaseNames().join(', ')}`);
  }
  return selectPhases(requested);
}

async function progressView(io: CliIo, output: OutputMode, phases: readonly KubestrapPhase[]): Promise<{ observer?: RunObserver; note(text: string): void; close(): Promise<void> }> {
  // A terminal that reports no width (some pseudo-terminals) would get one character per line.
  const drawable = io.stdout === process.stdout && process.stdout.isTTY === true && (process.stdout.columns ?? 0) >= 40;
  const tty = output === 'tty' || (output === 'auto' && drawable);
  if (output === 'json') return { note: () => undefined, close: async () => undefined };
  if (!tty) return { observer: plainProgress(io.stderr), note: () => undefined, close: async () => undefined };
  const stages: Array<{ name: StageName; title: string }> = [{ name: 'connect', title: 'connect and read facts' }, ...phases.map((p) => ({ name: p.name, title: p.title }))];
  // listr2 loads only for a terminal: plain and JSON output never draw with it.
  const { ListrProgress } = await import('../output/progress-listr.js');
  const view = new ListrProgress(stages);
  return { observer: view, note: (text) => view.note('connect', text), close: () => view.close() };
}
