import { Command, CommanderError } from 'commander';
import { KubestrapError } from '../errors.js';
import { PACKAGE_VERSION } from '../package-root.js';
import { printable } from '../printable.js';
import { bundleCommand } from './commands/bundle.js';
import { certsCommand } from './commands/certs.js';
import { convergeCommand } from './commands/converge.js';
import { healthCommand } from './commands/health.js';
import { importCommand } from './commands/import.js';
import { initCommand } from './commands/init.js';
import { kubeconfigCommand } from './commands/kubeconfig.js';
import { renderCommand } from './commands/render.js';
import { resetCommand } from './commands/reset.js';
import { tunnelCommand } from './commands/tunnel.js';
import { etcdCommand } from './commands/etcd.js';
import { EXIT_FAILED, EXIT_INVALID_INPUT, EXIT_OK, printError, processIo, type CliIo } from './io.js';

function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  // commander's errors quote the command line (`unknown option '...'`): escaped, as every message is.
  const output = {
    writeOut: (s: string) => io.stdout.write(s),
    writeErr: (s: string) => io.stderr.write(printable(s)),
  };
  const program = new Command('bootstrap')
    .description('kubestrap: turn fresh Linux hosts into a Kubernetes cluster over SSH')
    .version(PACKAGE_VERSION)
    .option('--debug', 'print stack traces with errors', false)
    .exitOverride()
    .configureOutput(output)
    .showHelpAfterError();
  program.addCommand(initCommand(io, setExitCode));
  program.addCommand(renderCommand(io));
  program.addCommand(convergeCommand(io, 'plan', setExitCode));
  program.addCommand(convergeCommand(io, 'apply', setExitCode));
  program.addCommand(healthCommand(io, setExitCode));
  program.addCommand(certsCommand(io, setExitCode));
  program.addCommand(resetCommand(io, setExitCode));
  program.addCommand(etcdCommand(io, setExitCode));
  program.addCommand(kubeconfigCommand(io, setExitCode));
  program.addCommand(tunnelCommand(io));
  program.addCommand(bundleCommand(io));
  program.addCommand(importCommand(io, setExitCode));
  // Added commands keep their own settings: each gets the program's.
  for (const command of program.commands) for (const c of [command, ...command.commands]) c.exitOverride().configureOutput(output);
  return program;
}

/** Runs the CLI and returns its exit code (the launcher sets process.exitCode). */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => (exitCode = code));
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
