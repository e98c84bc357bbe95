/**
 * The controller alone at 10, 100, 1000 hosts (issue 25 part 4): each case starts the simulator
 * (server.ts, a process of its own) and then the built CLI as an operator runs it
 * (`node bin/bootstrap.js apply --phase os,pki ...`, process start included), and takes the
 * controller's wall time, CPU (user + system) and peak RSS:
 *   - first run: every host fresh (every resource changes: rendered, diffed, uploaded to a sink);
 *   - no-op: every host converged (nothing changes);
 *   - add one: the inventory plus one fresh host, `apply --limit` that host.
 * A case whose report is not what the case is (a failed host, a no-op that changes something) stops
 * the bench: its figures would measure something else.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeSimCluster, type SimCluster } from './cluster.js';
import type { SimServerOptions } from './server.js';

export const SIM_PHASES = ['os', 'pki'];
export const SIM_CASES = ['first run', 'no-op', 'add one (--limit)'] as const;
export type SimCase = (typeof SIM_CASES)[number];

export interface SimFigures {
  hosts: number;
  case: SimCase;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMb: number;
}

const CLI = join(process.cwd(), 'bin/bootstrap.js');
const USAGE_HOOK = join(process.cwd(), 'test/bench/peak-rss.mjs');
const SERVER = join(process.cwd(), 'test/bench/sim/server.ts');
const TSX = join(process.cwd(), 'node_modules/.bin/tsx');

interface JsonReport {
  hosts: Array<{ host: string; status: string; error: { message?: string } | null }>;
}

export async function measureSim(counts: readonly number[], log: (line: string) => void): Promise<SimFigures[]> {
  const out: SimFigures[] = [];
  for (const count of counts) {
    const dir = mkdtempSync(join(tmpdir(), 'kubestrap-sim-'));
    try {
      // Below the kernel's ephemeral ports (32768 and up by default), where outgoing connections
      // would take them; a block of their own per size, since a port the last simulator held may linger.
      const cluster = writeSimCluster(dir, count, 10000 + Math.floor(Math.random() * 19) * 1100);
      for (const name of SIM_CASES) {
        const figures = await simCase(cluster, count, name);
        log(`  ${count} hosts, ${name}: ${figures.wallSeconds.toFixed(2)} s wall, ${figures.cpuSeconds.toFixed(2)} s CPU, ${figures.peakRssMb.toFixed(0)} MB`);
        out.push(figures);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

async function simCase(cluster: SimCluster, count: number, name: SimCase): Promise<SimFigures> {
  const added = cluster.hosts[count]!.name;
  const inventory = name === 'add one (--limit)' ? cluster.inventoryPlusOne : cluster.inventory;
  const fresh = name === 'first run' ? 'all' : name === 'no-op' ? [] : [added];
  const sim = await startSim({ inventory, config: cluster.config, hostKeyFile: cluster.hostKeyFile, phases: SIM_PHASES, fresh });
  try {
    const args = ['apply', '-i', inventory, '-c', cluster.config, '--phase', SIM_PHASES.join(','), '--no-ssh-config', '--output', 'json', ...(name === 'add one (--limit)' ? ['--limit', added] : [])];
    const { figures, report } = runController(cluster.dir, args);
    checkReport(name, report, added);
    return { hosts: count, case: name, ...figures };
  } finally {
    await stopSim(sim);
  }
}

function runController(dir: string, args: string[]): { figures: Omit<SimFigures, 'hosts' | 'case'>; report: JsonReport } {
  const usageFile = join(dir, 'usage.json');
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['--import', USAGE_HOOK, CLI, ...args], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, SSH_AUTH_SOCK: '', KUBESTRAP_USAGE_FILE: usageFile },
  });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0 && result.status !== 1) throw new Error(`bootstrap ${args.join(' ')} exited ${result.status}:\n${result.stderr.slice(-4000)}`);
  const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as NodeJS.ResourceUsage;
  return {
    figures: { wallSeconds, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, peakRssMb: usage.maxRSS / 1024 },
    report: JSON.parse(result.stdout) as JsonReport,
  };
}

function checkReport(name: SimCase, report: JsonReport, added: string): void {
  // Adding one reads only the hosts the phases need besides it; the others are skipped, not contacted.
  const fine = (status: string) => status === 'ok' || status === 'changed' || (name === 'add one (--limit)' && status === 'skipped');
  const failed = report.hosts.filter((h) => !fine(h.status));
  if (failed.length) throw new Error(`${name}: ${failed.length} hosts ${failed[0]!.status}, e.g. ${failed[0]!.host}: ${failed[0]!.error?.message ?? ''}`);
  const changed = report.hosts.filter((h) => h.status === 'changed').map((h) => h.host);
  const expected = name === 'no-op' ? 0 : name === 'first run' ? report.hosts.length : 1;
  if (changed.length !== expected || (name === 'add one (--limit)' && changed[0] !== added)) {
    throw new Error(`${name}: ${changed.length} hosts changed (${changed.slice(0, 5).join(', ')}), expected ${expected}`);
  }
}

async function startSim(opts: SimServerOptions): Promise<ChildProcess> {
  const child = spawn(TSX, [SERVER, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`simulator: ${line}`))));
    child.once('exit', (code) => reject(new Error(`the simulator exited ${code} before it was ready`)));
  });
  return child;
}

async function stopSim(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin!.end();
  await exited;
}
