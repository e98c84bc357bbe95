import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { writeInventory, type InventoryOptions } from '../../lab/index.js';
import { runCli, type CliRun } from '../../support/cli.js';
import { setProperties, writeLabConfig } from '../../lab/cluster-config.js';
import type { LabHosts } from './hosts.js';

/** A run's JSON report, as `--output json` prints it. */
export interface JsonReport {
  ok: boolean;
  hosts: Array<{
    host: string;
    status: string;
    system: string | null;
    error: { kind: string; message: string; hint: string | null; where: string } | null;
    roundTrips: { handshakes: number; execs: number; sftpOps: number; streamedBytes?: number } | null;
  }>;
  refused?: Array<{ kind: string; message: string; hint: string | null; where: string }>;
  /** The versions the run moves, in order (issue 24): one step per component and target version. */
  upgrade?: Array<{ components: string; to: string; hosts: Array<{ host: string; from: string }>; how: string }>;
  results: Array<{
    phase: string;
    host: string;
    status: string;
    changes: Array<{ resource: string; summary: string }>;
    restarts: Array<{ service: string }>;
    text: string[];
    error: { message: string; hint: string | null; details?: { stderrTail?: string; command?: string } } | null;
  }>;
}

/** A failed run's refusals and each failed phase's error (its stderr's last lines too), for an assertion's message. */
export function errorsOf(report: JsonReport): string {
  const refused = (report.refused ?? []).map((e) => `refused: ${e.where}: ${e.message}`);
  const failed = report.results.filter((r) => r.error).map((r) => `${r.phase} ${r.host}: ${r.error!.message}\n${(r.error!.details?.stderrTail ?? '').slice(-1500)}`);
  return [...refused, ...failed].join('\n');
}

export interface LabCluster {
  dir: string;
  inventory: string;
  config: string;
  /** Runs the CLI with this cluster's inventory and config appended. */
  cli(args: string[]): Promise<CliRun>;
  /** Runs `plan` or `apply` with --output json and parses the report. */
  json(command: 'plan' | 'apply' | 'init', extra?: string[]): Promise<{ run: CliRun; report: JsonReport }>;
  setProperty(key: string, value: string): void;
  /** Writes the inventory again, e.g. with a host added (the options replace the file's, not merge). */
  rewriteInventory(opts: InventoryOptions): Promise<void>;
}

export interface LabClusterOptions extends InventoryOptions {
  /** Give plan and apply the lab's offline bundle (default: yes; nothing can be downloaded in the lab). */
  bundle?: boolean;
  /** config.properties values other than the example's. */
  properties?: Record<string, string>;
}

/**
 * An inventory and a config.properties (the committed example) for the lab hosts of one test file,
 * in a temp folder that also holds the cluster's local state. The config asks for the versions the
 * lab's bundle holds, and lets 1.35+ kubelets run on the lab's cgroup v1 hosts; plan and apply get
 * `--bundle` (the lab has no network).
 */
export function useLabCluster(hosts: LabHosts, opts: LabClusterOptions = {}): LabCluster {
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-e2e-'));
  const inventory = join(dir, 'inventory.yaml');
  const config = join(dir, 'config.properties');
  const bundleDir = inject('bundleDir');
  const setProperty = (key: string, value: string) => setProperties(config, { [key]: value });
  beforeAll(async () => {
    await writeInventory({ ...hosts.lab, hosts: hosts.all() }, inventory, opts);
    writeLabConfig(config, bundleDir);
    if (opts.properties) setProperties(config, opts.properties);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const withBundle = (args: string[]) =>
    opts.bundle !== false && bundleDir && ['plan', 'apply', 'init'].includes(args[0] ?? '') && !args.includes('--bundle') ? [...args, '--bundle', bundleDir] : args;
  const cli = (args: string[]) => runCli([...withBundle(args), '-i', inventory, '-c', config]);
  return {
    dir,
    inventory,
    config,
    cli,
    async json(command, extra = []) {
      const run = await cli([command, '--output', 'json', ...extra]);
      try {
        return { run, report: JSON.parse(run.stdout) as JsonReport };
      } catch {
        throw new Error(`${command} printed no JSON report (exit ${run.code}):\n${run.stdout}${run.stderr}`);
      }
    },
    setProperty,
    rewriteInventory: (more) => writeInventory({ ...hosts.lab, hosts: hosts.all() }, inventory, more),
  };
}
