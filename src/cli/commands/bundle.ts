import { Command } from 'commander';
import { createBundle } from '../../artifacts/bundle.js';
import { loadClusterConfig } from '../../config/cluster-config.js';
import type { Warning } from '../../errors.js';
import { formatBytes } from '../../engine/kinds/local-file.js';
import { ARCHES, type Arch } from '../../upstream/index.js';
import { formatTable, printWarnings, type CliIo } from '../io.js';
import { bundleReportSchema } from '../output/bundle-json.js';
import { downloadProgress } from '../output/download-progress.js';
import { jsonReport } from '../output/json.js';
import { outputOption, type OutputMode } from '../options.js';
import { UsageError } from '../usage-error.js';

interface CreateOptions {
  out: string;
  config: string;
  arch: string;
  output: OutputMode;
}

/** `bootstrap bundle create`: everything a config needs, for hosts (and a controller) without internet access. */
export function bundleCommand(io: CliIo): Command {
  const bundle = new Command('bundle');
  bundle
    .command('create')
    .summary('download and check every binary and image the config needs into a folder')
    .description(
      'Fill OUT with every binary the config needs (Kubernetes, etcd, flannel, CNI plugins, containerd, runc, Docker), ' +
        'the pause and CoreDNS images as archives, and manifest.json with their checksums. ' +
        'Then `apply --bundle OUT` installs from there without touching the network.',
    )
    .requiredOption('-o, --out <dir>', 'bundle folder (created if missing)')
    .option('-c, --config <file>', 'key=value properties', 'config.properties')
    .option('--arch <arches>', `architectures, comma-separated (${ARCHES.join(', ')})`, 'amd64')
    .addOption(outputOption('report format (progress goes to stderr either way)'))
    .action(async (opts: CreateOptions) => create(io, opts));
  return bundle;
}

async function create(io: CliIo, opts: CreateOptions): Promise<void> {
  const arches = opts.arch
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const unknown = arches.filter((a) => !(ARCHES as readonly string[]).includes(a));
  if (unknown.length || arches.length === 0) throw new UsageError(`unknown architecture ${unknown.join(', ') || '(none)'}`, `choose from: ${ARCHES.join(', ')}`);
  const config = loadClusterConfig(opts.config);
  printWarnings(io, config.warnings);
  const tty = opts.output === 'tty' || (opts.output === 'auto' && io.stderr === process.stderr && process.stderr.isTTY === true);
  const progress = downloadProgress(tty ? { draw: (text) => io.stderr.write(`\r\x1b[K${text}`) } : { line: (text) => io.stderr.write(`${text}\n`) });
  const warnings: Warning[] = [];
  const manifest = await createBundle({ config, arches: arches as Arch[], out: opts.out, progress, warn: (w) => warnings.push(w) });
  if (tty) io.stderr.write('\r\x1b[K');
  printWarnings(io, warnings);
  const total = manifest.artifacts.reduce((n, a) => n + (a.size ?? 0), 0);
  if (opts.output === 'json') {
    io.stdout.write(jsonReport(bundleReportSchema, { ok: true, out: opts.out, totalBytes: total, manifest }));
    return;
  }
  const rows = manifest.artifacts.map((a) => [a.file ?? '', a.version, formatBytes(a.size ?? 0)]);
  io.stdout.write(`${formatTable(['FILE', 'VERSION', 'SIZE'], rows)}\n`);
  io.stdout.write(`bundle written to ${opts.out}/ (${manifest.artifacts.length} files, ${formatBytes(total)}); use it with: bootstrap apply --bundle ${opts.out}\n`);
}
