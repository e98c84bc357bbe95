import { Command } from 'commander';
import { loadClusterSpec } from '../../config/cluster-spec.js';
import { InvalidInputError } from '../../errors.js';
import { BUNDLED_UNITS } from '../../package-root.js';
import { hostValues } from '../../phases/index.js';
import { renderCluster } from '../../render/render-cluster.js';
import { renderCompat } from '../../render/render-compat.js';
import { writeOutputTree, type OutputFile, type WriteResult } from '../../render/output-tree.js';
import { printable } from '../../printable.js';
import { formatTable, printWarnings, type CliIo } from '../io.js';
import { jsonReport } from '../output/json.js';
import { renderReportSchema, type RenderReport } from '../output/render-json.js';
import { clusterSources, outputOption, withSshConfigOptions, type OutputMode } from '../options.js';
import { UsageError } from '../usage-error.js';

interface RenderOptions {
  inventory?: string;
  config: string;
  sshConfig?: string | false;
  templates?: string;
  out: string;
  clean: boolean;
  output: OutputMode;
}

export function renderCommand(io: CliIo): Command {
  const command = new Command('render')
    .description(
      'Write every file each host would get to OUT/<host>/<path on the host>, touching no host.\n' + 'Without -i it is a drop-in for gen-config.sh: --templates DIR --config FILE --out DIR.',
    )
    .option('-i, --inventory <file>', 'inventory YAML: render per host')
    .option('-c, --config <file>', 'key=value properties', 'config.properties')
    .option('-t, --templates <dir>', "template tree (default: kubestrap's units/ with -i)")
    .option('-o, --out <dir>', 'output folder', 'target')
    .option('--clean', 'remove files an earlier render left in the output folder', false)
    .addOption(outputOption('report format'));
  return withSshConfigOptions(command).action((opts: RenderOptions) => (opts.inventory ? renderHosts(io, opts, opts.inventory) : renderGenConfig(io, opts)));
}

function renderHosts(io: CliIo, opts: RenderOptions, inventoryFile: string): void {
  const spec = loadClusterSpec(clusterSources({ ...opts, inventory: inventoryFile }));
  printWarnings(io, spec.warnings);
  const rendered = renderCluster(spec, opts.templates ?? BUNDLED_UNITS, (host) => hostValues(host, undefined));
  if (rendered.problems.length) throw new InvalidInputError(rendered.problems);

  const files: OutputFile[] = rendered.hosts.flatMap(({ host, files }) => files.map((f) => ({ rel: `${host.name}${f.path}`, content: f.content, mode: f.mode })));
  const result = writeOutputTree(opts.out, files, [], { clean: opts.clean });
  const written = rendered.hosts.flatMap(({ host, files }) => files.map((f) => ({ host: host.name, path: f.path, mode: octal(f.mode), bytes: Buffer.byteLength(f.content) })));
  if (opts.output === 'json') {
    printJson(io, opts.out, written, result);
    return;
  }
  io.stdout.write(
    `${formatTable(
      ['HOST', 'FILE', 'MODE', 'BYTES'],
      written.map((f) => [f.host, f.path, f.mode, String(f.bytes)]),
    )}\n`,
  );
  reportWritten(io, opts.out, result);
}

function renderGenConfig(io: CliIo, opts: RenderOptions): void {
  if (!opts.templates) {
    throw new UsageError('render needs -i INVENTORY (render for each host) or --templates DIR (gen-config.sh mode)');
  }
  const rendered = renderCompat(opts.templates, opts.config);
  if (rendered.problems.length) throw new InvalidInputError(rendered.problems, rendered.warnings);
  printWarnings(io, rendered.warnings);
  const result = writeOutputTree(opts.out, rendered.files, rendered.dirs, { clean: opts.clean });
  if (opts.output === 'json') {
    printJson(
      io,
      opts.out,
      rendered.files.map((f) => ({ host: null, path: f.rel, mode: octal(f.mode), bytes: Buffer.byteLength(f.content) })),
      result,
    );
    return;
  }
  const rows = rendered.files.map((f) => [f.rel, String(f.content.length)]);
  io.stdout.write(`${formatTable(['FILE', 'BYTES'], rows)}\n`);
  reportWritten(io, opts.out, result);
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** The JSON report; the stale and foreign files are in it, and said on stderr as in the text output. */
function printJson(io: CliIo, folder: string, files: RenderReport['files'], result: WriteResult): void {
  io.stdout.write(jsonReport(renderReportSchema, { ok: true, out: folder, written: result.written, files, stale: result.stale, foreign: result.foreign }));
  warnLeftovers(io, printable(folder, { keepNewlines: false }), result);
}

function reportWritten(io: CliIo, folder: string, result: WriteResult): void {
  const out = printable(folder, { keepNewlines: false });
  io.stdout.write(`${result.written} files written to ${out}/\n`);
  warnLeftovers(io, out, result);
}

function warnLeftovers(io: CliIo, out: string, result: WriteResult): void {
  const list = (files: string[]) => printable(`${files.slice(0, 5).join(', ')}${files.length > 5 ? ', ...' : ''}`);
  if (result.stale.length) {
    io.stderr.write(`warning: ${out}/ also holds ${result.stale.length} file(s) an earlier render wrote and this one did not: ${list(result.stale)}\n  hint: pass --clean to remove them\n`);
  }
  if (result.foreign.length) {
    io.stderr.write(`warning: ${out}/ also holds ${result.foreign.length} file(s) no render wrote (left alone, also by --clean): ${list(result.foreign)}\n`);
  }
}
