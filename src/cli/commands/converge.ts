import { Command, Option } from 'commander';
import { loadClusterSpec, type ClusterSpec } from '../../config/cluster-spec.js';
import { InvalidInputError } from '../../errors.js';
import { runSucceeded, type RunReport } from '../../engine/report.js';
import { runPhases, type RunMode, type RunObserver, type StageName } from '../../engine/runner.js';
import { availablePhaseNames, hostValues, PHASES, selectPhases, type PhaseOptions } from '../../phases/index.js';
import type { Phase } from '../../phases/phase.js';
import { BUNDLED_UNITS } from '../../package-root.js';
import { prepareTemplates } from '../../render/render-cluster.js';
import { displayFilter } from '../../printable.js';
import { targetSecrets } from '../../ssh/auth.js';
import { SshPool } from '../../ssh/pool.js';
import { acquireLock } from '../../state/lock.js';
import { RunLog } from '../../state/run-log.js';
import { openStateDir } from '../../state/state-dir.js';
import { EXIT_FAILED, EXIT_INVALID_INPUT, EXIT_OK, printWarnings, type CliIo } from '../io.js';
import { downloadProgress } from '../output/download-progress.js';
import { ListrProgress } from '../output/progress-listr.js';
import { plainProgress } from '../output/progress-plain.js';
import { reportJson } from '../output/report-json.js';
import { formatReport } from '../output/report-text.js';
import { UsageError } from '../usage-error.js';

type OutputMode = 'auto' | 'tty' | 'plain' | 'json';

interface ConvergeOptions {
  inventory: string;
  config: string;
  templates?: string;
  phase?: string[];
  limit?: string[];
  concurrency: number;
  acceptNewHostKeys: boolean;
  output: OutputMode;
  connectTimeout: number;
  bundle?: string;
  artifactsManifest?: string;
  verifyBinaries: boolean;
}

const DEFAULT_CONCURRENCY = 20;

/** `plan` and `apply` share everything but the mode: same inputs, same probes, same diff. */
export function convergeCommand(io: CliIo, mode: RunMode, setExitCode: (code: number) => void): Command {
  const phases = availablePhaseNames().join(', ');
  return new Command(mode)
    .summary(mode === 'plan' ? 'show what apply would change on each host (touches nothing)' : 'bring every host to the desired state')
    .description(
      mode === 'plan'
        ? 'Connect to every host, read its state, and print exactly what `apply` would change: file diffs, services to restart, packages to install. Changes nothing.'
        : 'Connect to every host, read its state, and change only what differs; restart only the services whose inputs changed.',
    )
    .requiredOption('-i, --inventory <file>', 'inventory YAML')
    .option('-c, --config <file>', 'key=value properties', 'config.properties')
    .option('-t, --templates <dir>', 'template tree (default: kubestrap\'s units/)')
    .option('--phase <names...>', `only these phases (${phases})`)
    .option('--limit <hosts...>', 'change only these hosts (names, comma- or space-separated); the others are read, not changed')
    .addOption(new Option('--concurrency <n>', 'hosts worked on at once').default(DEFAULT_CONCURRENCY).argParser(positiveInt))
    .option('--accept-new-host-keys', 'record host keys seen for the first time instead of refusing them', false)
    .addOption(new Option('--output <mode>', 'progress and report format').choices(['auto', 'tty', 'plain', 'json']).default('auto'))
    .addOption(new Option('--connect-timeout <seconds>', 'SSH connect timeout').default(10).argParser(positiveInt))
    .option('--bundle <dir>', 'take every artifact from this offline bundle (bootstrap bundle create) and never use the network')
    .option('--artifacts-manifest <file>', 'your own builds: a manifest (bundle format) whose entries replace the upstream downloads')
    .option('--verify-binaries', 'hash every installed binary on every host, whatever kubestrap recorded', false)
    .action(async (opts: ConvergeOptions) => setExitCode(await converge(io, mode, opts)));
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`"${value}" is not a positive whole number`);
  return n;
}

async function converge(io: CliIo, mode: RunMode, opts: ConvergeOptions): Promise<number> {
  const notices: string[] = [];
  let view: { observer?: RunObserver; note(text: string): void; close(): Promise<void> } | undefined;
  const phases = choosePhases(opts.phase, {
    artifacts: {
      ...(opts.bundle ? { bundleDir: opts.bundle } : {}),
      ...(opts.artifactsManifest ? { manifestFile: opts.artifactsManifest } : {}),
      progress: downloadProgress({ draw: (text) => view?.note(text), ...(opts.output === 'plain' ? { line: (text: string) => io.stderr.write(`${text}\n`) } : {}) }),
      notice: (message) => notices.push(message),
    },
    install: { verifyBinaries: opts.verifyBinaries },
  });
  const spec = loadClusterSpec({ inventoryFile: opts.inventory, configFile: opts.config });
  printWarnings(io, spec.warnings);
  const limit = limitedHosts(spec, opts.limit);
  const templates = prepareTemplates(spec, opts.templates ?? BUNDLED_UNITS);
  // Rendered once with what a fresh host would be, so bad templates are refused before connecting.
  const problems = [...templates.problems, ...spec.hosts.flatMap((h) => templates.renderHost(h, hostValues(h, undefined)).problems)];
  if (problems.length) throw new InvalidInputError(problems.filter((p, i) => problems.findIndex((q) => q.format() === p.format()) === i));

  // Hosts' output is parsed raw; what is shown or logged has every password and passphrase redacted.
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const state = openStateDir(spec.stateDir, spec.knownHostsFile);
  const lock = acquireLock(state.lockFile, `bootstrap ${mode}`);
  const log = new RunLog(state.logsDir, mode, shown);
  const pool = new SshPool({
    knownHostsFile: spec.knownHostsFile,
    acceptNewHostKeys: opts.acceptNewHostKeys,
    connectTimeoutMs: opts.connectTimeout * 1000,
    log: (e) => log.write({ event: 'ssh', ...e }),
  });
  view = progressView(io, opts.output, phases);
  let report: RunReport;
  try {
    log.write({ event: 'start', mode, cluster: spec.name, phases: phases.map((p) => p.name), hosts: spec.hosts.map((h) => h.name) });
    report = await runPhases({
      spec,
      filesFor: (host, facts) => {
        const rendered = templates.renderHost(host, hostValues(host, facts));
        if (rendered.problems.length) throw new InvalidInputError(rendered.problems);
        return rendered.files;
      },
      phases,
      mode,
      connect: (target) => pool.connect(target),
      concurrency: opts.concurrency,
      ...(limit ? { limit } : {}),
      ...(view.observer ? { observer: view.observer } : {}),
      log: (e) => log.write(e),
    });
    log.write({ event: 'end', ok: runSucceeded(report), durationMs: report.durationMs });
  } finally {
    await view.close();
    await pool.closeAll();
    lock.release();
    log.close();
  }
  for (const n of notices) io.stderr.write(`note: ${n}\n`);
  io.stdout.write(opts.output === 'json' ? reportJson(report, shown) : formatReport(report, shown));
  if (opts.output !== 'json') io.stderr.write(`debug log: ${log.file}\n`);
  if (report.refused.length) return EXIT_INVALID_INPUT;
  return runSucceeded(report) ? EXIT_OK : EXIT_FAILED;
}

function limitedHosts(spec: ClusterSpec, names: string[] | undefined): string[] | undefined {
  const requested = names?.flatMap((n) => n.split(',')).filter(Boolean);
  if (!requested) return undefined;
  const unknown = requested.filter((n) => !spec.hosts.some((h) => h.name === n));
  if (unknown.length) throw new UsageError(`--limit names ${unknown.join(', ')}, which the inventory does not have`, `choose from: ${spec.hosts.map((h) => h.name).join(', ')}`);
  return requested;
}

function choosePhases(names: string[] | undefined, options: PhaseOptions): Phase[] {
  const requested = names?.flatMap((n) => n.split(',')).filter(Boolean);
  const unknown = requested?.filter((n) => !PHASES.some((p) => p.name === n)) ?? [];
  if (unknown.length) {
    throw new UsageError(`unknown phase ${unknown.join(', ')}`, `choose from: ${availablePhaseNames().join(', ')}`);
  }
  return selectPhases(requested, options);
}

function progressView(io: CliIo, output: OutputMode, phases: Phase[]): { observer?: RunObserver; note(text: string): void; close(): Promise<void> } {
  // A terminal that reports no width (some pseudo-terminals) would get one character per line.
  const drawable = io.stdout === process.stdout && process.stdout.isTTY === true && (process.stdout.columns ?? 0) >= 40;
  const tty = output === 'tty' || (output === 'auto' && drawable);
  if (output === 'json') return { note: () => undefined, close: async () => undefined };
  if (!tty) return { observer: plainProgress(io.stderr), note: () => undefined, close: async () => undefined };
  const stages: Array<{ name: StageName; title: string }> = [{ name: 'connect', title: 'connect and read facts' }, ...phases.map((p) => ({ name: p.name, title: p.title }))];
  const view = new ListrProgress(stages);
  return { observer: view, note: (text) => view.note('connect', text), close: () => view.close() };
}

