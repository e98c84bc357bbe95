import { resolve, join } from 'node:path';
import { Command, Option } from 'commander';
import { ensureRealDir, lstatOrUndefined, writeFresh } from '../../fresh-file.js';
import { FORMATS, type ImportFormat } from '../../import/flavours.js';
import { importInventory } from '../../import/import.js';
import { importText, inventoryYaml, propertiesText } from '../../import/output.js';
import { importReportSchema } from '../../import/report-schema.js';
import { printable } from '../../printable.js';
import { EXIT_INVALID_INPUT, EXIT_OK, printWarnings, type CliIo } from '../io.js';
import { outputOption, type OutputMode } from '../options.js';
import { jsonReport } from '../output/json.js';
import { planInputCheck } from '../run-inputs.js';
import { UsageError } from '../usage-error.js';

interface ImportOptions {
  from?: ImportFormat;
  cluster?: string;
  out: string;
  force: boolean;
  output: OutputMode;
}

/** `bootstrap import FILE`: a kubeasz or kubespray inventory to kubestrap's inventory.yaml and config.properties. */
export function importCommand(io: CliIo, setExitCode: (code: number) => void): Command {
  return new Command('import')
    .description(
      "Reads kubeasz's hosts (and config.yml beside it) or kubespray's inventory.ini or hosts.yaml (and group_vars/, host_vars/ beside it), writes inventory.yaml and config.properties into --out, " +
        'and says what it carried over, from where, and every value it did not, with why. Then checks the files as `plan` does before it connects; exits 2 if plan would refuse them.',
    )
    .argument('<file>', "kubeasz's clusters/NAME/hosts, or kubespray's inventory.ini or hosts.yaml")
    .addOption(new Option('--from <tool>', 'which tool wrote it (default: told by its groups)').choices(FORMATS))
    .option('--cluster <name>', "the cluster's name in the inventory (default: kubeasz's CLUSTER_NAME, else the inventory's folder)")
    .option('-o, --out <dir>', 'folder for inventory.yaml and config.properties', '.')
    .option('--force', 'replace inventory.yaml and config.properties if they exist', false)
    .addOption(outputOption('report format'))
    .action((file: string, opts: ImportOptions) => setExitCode(runImport(io, file, opts)));
}

function runImport(io: CliIo, file: string, opts: ImportOptions): number {
  const files = { inventory: join(opts.out, 'inventory.yaml'), config: join(opts.out, 'config.properties') };
  const existing = Object.values(files).filter((f) => lstatOrUndefined(f) !== undefined);
  if (existing.length && !opts.force) {
    throw new UsageError(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; import writes both files new`, 'pass --force to replace them, or --out DIR for another folder');
  }
  const result = importInventory(file, { ...(opts.from ? { from: opts.from } : {}), ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}) });
  const dir = resolve(opts.out);
  ensureRealDir(dir, dir, (path, what) => new UsageError(`${path} is ${what}; import writes only into a real folder`, 'give --out a real folder'));
  writeFresh(files.inventory, inventoryYaml(result), 0o644);
  writeFresh(files.config, propertiesText(result), 0o644);

  // The files are kept when plan would refuse them: the problems name their lines, to be edited there.
  const check = planInputCheck(files.inventory, files.config);
  const problems = check.problems.map((p) => p.format());
  if (opts.output === 'json') {
    const { leftBehind, ...carried } = result;
    io.stdout.write(jsonReport(importReportSchema, { ok: problems.length === 0, ...carried, written: files, notCarriedOver: leftBehind, planProblems: problems }));
  } else {
    io.stdout.write(importText(result, files));
    printWarnings(io, check.warnings);
    if (problems.length) io.stderr.write(`error: plan would refuse the files written:\n${printable(problems.join('\n'))}\n`);
    else io.stdout.write('plan accepts them (checked as it does before connecting to any host).\n');
  }
  return problems.length ? EXIT_INVALID_INPUT : EXIT_OK;
}
