import { Command, CommanderError } from 'commander';
import { KubestrapError } from '../errors.js';
import { PACKAGE_VERSION } from '../package-root.js';
import { printable } from '../printable.js';
import { EXIT_FAILED, EXIT_INVALID_INPUT, EXIT_OK, printError, processIo, type CliIo } from './io.js';

type SetExitCode = (code: number) => void;

/**
 * Every command, as the top-level help lists it. A command's module (and what it imports: ssh2, the
 * X.509 library, listr2...) is imported only when that command is named, so `bootstrap --help` and
 * each command start with nothing they do not run. The summary lives here, not in the command's
 * module, so that the list needs none of them.
 */
interface LazyCommand {
  name: string;
  summary: string;
  load(io: CliIo, setExitCode: SetExitCode): Promise<Command>;
}

const COMMANDS: LazyCommand[] = [
  {
    name: 'init',
    summary: 'create a new cluster on fresh hosts (asks on a terminal, shows the plan first)',
    load: async (io, set) => (await import('./commands/init.js')).initCommand(io, set),
  },
  { name: 'render', summary: "write each host's files to a folder (touches no host)", load: async (io) => (await import('./commands/render.js')).renderCommand(io) },
  {
    name: 'plan',
    summary: 'show what apply would change on each host (touches nothing)',
    load: async (io, set) => (await import('./commands/converge.js')).convergeCommand(io, 'plan', set),
  },
  { name: 'apply', summary: 'bring every host to the desired state', load: async (io, set) => (await import('./commands/converge.js')).convergeCommand(io, 'apply', set) },
  {
    name: 'health',
    summary: 'check that the cluster works: etcd, API server, controllers, nodes, flannel, runtime',
    load: async (io, set) => (await import('./commands/health.js')).healthCommand(io, set),
  },
  { name: 'certs', summary: "check and renew the cluster's certificates", load: async (io, set) => (await import('./commands/certs.js')).certsCommand(io, set) },
  {
    name: 'reset',
    summary: 'take kubestrap off the hosts: units, binaries, configuration, certificates, run-time state (shows it first)',
    load: async (io, set) => (await import('./commands/reset.js')).resetCommand(io, set),
  },
  { name: 'etcd', summary: "back up and restore the cluster's state (etcd)", load: async (io, set) => (await import('./commands/etcd.js')).etcdCommand(io, set) },
  {
    name: 'kubeconfig',
    summary: 'a kubeconfig with a personal certificate from the cluster CA (never the admin credential)',
    load: async (io, set) => (await import('./commands/kubeconfig.js')).kubeconfigCommand(io, set),
  },
  {
    name: 'tunnel',
    summary: "forward a local port to the API server through a master's SSH connection",
    load: async (io) => (await import('./commands/tunnel.js')).tunnelCommand(io),
  },
  { name: 'bundle', summary: 'offline bundles: every artifact a config needs, in one folder', load: async (io) => (await import('./commands/bundle.js')).bundleCommand(io) },
  {
    name: 'import',
    summary: 'write inventory.yaml and config.properties from a kubeasz or kubespray inventory (touches no host)',
    load: async (io, set) => (await import('./commands/import.js')).importCommand(io, set),
  },
];

/** The command the arguments name (`help NAME` names NAME): the program's own options take no values. */
function namedCommand(argv: string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

async function buildProgram(io: CliIo, argv: string[], setExitCode: SetExitCode): Promise<Command> {
  // commander's errors quote the command line (`unknown option '...'`): escaped, as every message is.
  const output = {
    writeOut: (s: string) => io.stdout.write(s),
    writeErr: (s: string) => io.stderr.write(printable(s)),
    // As commander's own default, but of the CLI's streams: the help built for the launcher is rendered through them (built-help.ts).
    getOutHelpWidth: () => terminalWidth(io.stdout),
    getErrHelpWidth: () => terminalWidth(io.stderr),
  };
  const program = new Command('bootstrap')
    .description('kubestrap: turn fresh Linux hosts into a Kubernetes cluster over SSH')
    .version(PACKAGE_VERSION)
    .option('--debug', 'print stack traces with errors', false)
    .exitOverride()
    .configureOutput(output)
    .showHelpAfterError();
  const named = namedCommand(argv);
  // The others stay placeholders with a name and a summary: enough for the list and for commander's
  // "did you mean" on a misspelt name; none of them runs, since commander runs only the named one.
  for (const entry of COMMANDS) program.addCommand((entry.name === named ? await entry.load(io, setExitCode) : new Command(entry.name)).summary(entry.summary));
  // Added commands keep their own settings: each gets the program's.
  for (const command of program.commands) for (const c of [command, ...command.commands]) c.exitOverride().configureOutput(output);
  return program;
}

/** A terminal's width; elsewhere commander's default of 80. */
function terminalWidth(stream: CliIo['stdout']): number {
  const tty = stream as { isTTY?: boolean; columns?: number };
  return (tty.isTTY && tty.columns) || 80;
}

/** Runs the CLI and returns its exit code (the launcher sets process.exitCode). */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = await buildProgram(io, argv, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT_OK : EXIT_INVALID_INPUT;
    }
    printError(io, err, Boolean(program.opts().debug));
    return err instanceof KubestrapError && isInputError(err) ? EXIT_INVALID_INPUT : EXIT_FAILED;
  }
}

function isInputError(err: KubestrapError): boolean {
  return ['config', 'inventory', 'template', 'invalid-input', 'usage', 'output', 'lock', 'state', 'bundle', 'snapshot'].includes(err.kind);
}
