import { rmSync } from 'node:fs';
import { Command } from 'commander';
import { InvalidInputError } from '../../errors.js';
import { existingClusterProblems, localClusterProblems, resetMarkerPath } from '../../phases/existing-cluster.js';
import { printable } from '../../printable.js';
import { kubeVersionChoices } from '../../upstream/index.js';
import { EXIT_INVALID_INPUT, EXIT_OK, type CliIo } from '../io.js';
import { withSshConfigOptions } from '../options.js';
import { UsageError } from '../usage-error.js';
import { askCluster, confirmApply, confirmOverwrite, writeAnswers, type PromptStreams } from '../wizard.js';
import { converge, withConvergeOptions, type ConvergeOptions, type RunExtras } from './converge.js';

interface InitOptions extends Omit<ConvergeOptions, 'inventory' | 'config'> {
  inventory?: string;
  config?: string;
  yes: boolean;
}

const DEFAULT_INVENTORY = 'inventory.yaml';
const DEFAULT_CONFIG = 'config.properties';

/**
 * `bootstrap init`: a new cluster on fresh hosts, every phase in order. On a terminal without -i
 * and -c it asks for the cluster (and writes both files); it shows the plan and asks before it
 * applies, unless --yes (or CI=true). It refuses a cluster that exists already (a CA in the state
 * folder, hosts with etcd data or a CA) and points to `apply`.
 */
export function initCommand(io: CliIo, setExitCode: (code: number) => void, streams: PromptStreams = { input: process.stdin, output: process.stdout }): Command {
  const command = new Command('init')
    .description(
      'Run every phase on hosts that hold no cluster yet. Without -i and -c on a terminal, ask for hosts, roles, SSH login, ' +
        'version and networks, and write inventory.yaml and config.properties. Show the plan and ask before applying ' +
        '(--yes and CI=true never ask). A cluster that exists already is refused: use apply.',
    )
    .option('-i, --inventory <file>', `inventory YAML (default: ${DEFAULT_INVENTORY}, or asked for on a terminal)`)
    .option('-c, --config <file>', `key=value properties (default: ${DEFAULT_CONFIG}, or asked for on a terminal)`)
    .option('-y, --yes', 'apply without showing the plan and asking', false);
  return withConvergeOptions(withSshConfigOptions(command)).action(async (opts: InitOptions) => setExitCode(await init(io, opts, streams)));
}

function canAsk(io: CliIo, opts: InitOptions, streams: PromptStreams): boolean {
  const terminal = (streams.input as { isTTY?: boolean }).isTTY === true && (streams.output as { isTTY?: boolean }).isTTY === true;
  return terminal && !opts.yes && process.env.CI !== 'true' && opts.output !== 'json' && io.stdout === process.stdout;
}

async function init(io: CliIo, opts: InitOptions, streams: PromptStreams): Promise<number> {
  const ask = canAsk(io, opts, streams);
  const inventory = opts.inventory ?? DEFAULT_INVENTORY;
  const config = opts.config ?? DEFAULT_CONFIG;
  if (opts.inventory === undefined && opts.config === undefined) {
    if (!ask) throw new UsageError('init needs -i INVENTORY and -c CONFIG here', 'pass both files, or run init on a terminal without them (and without --yes) to be asked');
    const answers = await askCluster(streams, kubeVersionChoices());
    if (!(await confirmOverwrite(streams, [inventory, config]))) {
      io.stderr.write('nothing written; init stopped\n');
      return EXIT_INVALID_INPUT;
    }
    writeAnswers(answers, inventory, config);
    io.stderr.write(`${printable(`wrote ${inventory} and ${config}`)}\n`);
  }
  const run: ConvergeOptions = { ...opts, inventory, config };
  let resetMarker: string | undefined;
  const extras: RunExtras = {
    command: 'init',
    before: (spec) => {
      const problems = localClusterProblems(spec);
      if (problems.length) throw new InvalidInputError(problems);
      resetMarker = resetMarkerPath(spec);
    },
    preflight: existingClusterProblems,
  };
  if (ask) {
    const planned = await converge(io, 'plan', run, extras);
    if (planned !== EXIT_OK) return planned;
    if (!(await confirmApply(streams))) {
      io.stderr.write('nothing applied\n');
      return EXIT_OK;
    }
  }
  const code = await converge(io, 'apply', run, extras);
  // The PKI a reset kept is this cluster's again: a later init refuses it as usual.
  if (code === EXIT_OK && resetMarker) rmSync(resetMarker, { force: true });
  return code;
}
