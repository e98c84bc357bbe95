/**
 * `npm run bench [-- --hosts 3,9,20] [--sim-hosts 10,100,1000] [--only os|upload|pki|cluster|startup|sim] [--save] [--keep] [--lab NAME]`: the numbers the
 * design promises, measured on lab hosts with the built CLI exactly as an operator runs it (process
 * start included).
 *   - wall time of the first `apply --phase os` on fresh hosts (firewalld running, swap in fstab),
 *     then of the first `apply --phase pki` (the whole PKI issued, kept and distributed)
 *   - wall time of a no-op re-run of both, and of a `plan`
 *   - SSH round trips per host of the no-op run (handshakes, commands, SFTP requests)
 *   - the upload of a 400 MB set of binaries (`apply --phase artifacts`) next to scp of the same
 *     files to the same hosts, bytes sent per host, the controller's peak memory (see upload.ts)
 *   - a whole cluster: `init` on fresh hosts (3 etcd+master, the rest workers; one master for fewer than
 *     3 hosts), then a no-op `apply` of every phase, `plan` and `health`, with round trips per host
 *   - start-up: `bootstrap --help`, and the first SSH packet of a `plan` and an `apply` (startup.ts)
 *   - simulated hosts (10, 100, 1000): the controller's wall, CPU and peak RSS of a first run, a no-op
 *     and adding one host with --limit, against in-process SSH servers (sim/bench.ts)
 * Prints figures, start-up's and the simulated runs' next to those of test/bench/results.json (the
 * last `--save`) with the change and the issue's targets (results.ts); asserts nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { labBundle } from '../lab/bundle.js';
import { writeLabConfig } from '../lab/cluster-config.js';
import { addHosts, labDown, labUp, removeHosts, writeInventory, type LabHost, type LabInfo } from '../lab/index.js';
import { comparisonLines, readResults, RESULTS_FILE, saveResults } from './results.js';
import { measureSim, SIM_PHASES, type SimFigures } from './sim/bench.js';
import { measureStartup, startupLines, type StartupFigures } from './startup.js';
import { hostCpuAcross, spread } from './host-cpu.js';
import { measureUpload, ROUNDS, uploadTable, type UploadRow } from './upload.js';

/** `--lab NAME`: several people may bench on one machine. */
let LAB = 'bench';
const CLI = join(process.cwd(), 'bin/bootstrap.js');

interface Report {
  ok: boolean;
  durationMs: number;
  hosts: Array<{ host: string; roundTrips: { handshakes: number; execs: number; sftpOps: number; channels?: number } | null }>;
}

function run(args: string[]): { seconds: number; report: Report } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [CLI, ...args, '--output', 'json'], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`bootstrap ${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  return { seconds, report: JSON.parse(result.stdout) as Report };
}

function perHost(report: Report, field: 'handshakes' | 'execs' | 'sftpOps'): string {
  const values = report.hosts.map((h) => h.roundTrips?.[field] ?? 0);
  const [min, max] = [Math.min(...values), Math.max(...values)];
  return min === max ? String(min) : `${min}-${max}`;
}

interface Measured {
  os?: string[];
  upload?: UploadRow;
  cluster?: string[];
}

async function measure(count: number, only: string | undefined, bundleDir: string): Promise<Measured> {
  const hosts = await addHosts(LAB, count);
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-bench-'));
  try {
    const lab = await labUp({ name: LAB });
    const wanted = (part: string) => only === undefined || only === part;
    return {
      ...(wanted('os') ? { os: await measureOs(lab, hosts, dir, count) } : {}),
      ...(wanted('upload') ? { upload: await measureUpload(lab, hosts, bundleDir, dir) } : {}),
      ...(wanted('cluster') ? { cluster: await measureCluster(lab, join(dir, 'cluster'), count, bundleDir) } : {}),
    };
  } finally {
    await removeHosts(
      LAB,
      hosts.map((h) => h.name),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureOs(lab: LabInfo, hosts: LabHost[], dir: string, count: number): Promise<string[]> {
  await writeInventory({ ...lab, hosts }, join(dir, 'inventory.yaml'));
  copyFileSync('config.example.properties', join(dir, 'config.properties'));
  const args = (cmd: string, ...extra: string[]) => [cmd, '-i', join(dir, 'inventory.yaml'), '-c', join(dir, 'config.properties'), ...extra];

  const first = run(args('apply', '--phase', 'os'));
  const pki = run(args('apply', '--phase', 'pki'));
  const noop = run(args('apply', '--phase', 'os,pki'));
  const plan = run(args('plan', '--phase', 'os,pki'));
  if (noop.report.hosts.length !== count) throw new Error('the no-op run did not report every host');
  return [
    String(count),
    first.seconds.toFixed(2),
    pki.seconds.toFixed(2),
    noop.seconds.toFixed(2),
    (noop.report.durationMs / 1000).toFixed(2),
    plan.seconds.toFixed(2),
    perHost(noop.report, 'handshakes'),
    perHost(noop.report, 'execs'),
    perHost(noop.report, 'sftpOps'),
  ];
}

/** A whole cluster on hosts of its own: init refuses hosts that another cluster's run already prepared. */
async function measureCluster(lab: LabInfo, dir: string, count: number, bundleDir: string): Promise<string[]> {
  const hosts = await addHosts(LAB, count);
  try {
    return await clusterFigures(lab, hosts, dir, count, bundleDir);
  } finally {
    await removeHosts(
      LAB,
      hosts.map((h) => h.name),
    );
  }
}

async function clusterFigures(lab: LabInfo, hosts: LabHost[], dir: string, count: number, bundleDir: string): Promise<string[]> {
  const inventory = join(dir, 'inventory.yaml');
  const config = join(dir, 'config.properties');
  const masters = count >= 3 ? 3 : 1;
  await writeInventory({ ...lab, hosts }, inventory, { layout: (i) => (i < masters ? ['etcd', 'master', ...(count < 3 ? ['worker'] : [])] : ['worker']) });
  writeLabConfig(config, bundleDir);
  const args = (cmd: string, ...extra: string[]) => [cmd, '-i', inventory, '-c', config, ...extra];
  const init = run(args('init', '--yes', '--bundle', bundleDir));
  const { result: noop, seconds: cpu, idle } = hostCpuAcross(LAB, hosts, () => run(args('apply', '--bundle', bundleDir)));
  // The cluster checks' hosts: commands there beyond facts and probe would be processes started for them.
  const masterTrips = noop.report.hosts.filter((h) => hosts.slice(0, masters).some((m) => m.name === h.host)).map((h) => h.roundTrips);
  const plan = run(args('plan', '--bundle', bundleDir));
  const health = run(args('health'));
  return [
    String(count),
    init.seconds.toFixed(1),
    noop.seconds.toFixed(2),
    (noop.report.durationMs / 1000).toFixed(2),
    plan.seconds.toFixed(2),
    health.seconds.toFixed(2),
    perHost(noop.report, 'handshakes'),
    perHost(noop.report, 'execs'),
    perHost(noop.report, 'sftpOps'),
    `${spread(cpu)}, idle ${spread(idle)}`,
    `${masterTrips.map((t) => t?.execs ?? 0).join('/')} / ${masterTrips.map((t) => t?.channels ?? 0).join('/')}`,
  ];
}

function table(rows: string[][]): string {
  return formatRows(['hosts', 'first apply os (s)', 'first apply pki (s)', 'no-op apply (s)', 'no-op engine (s)', 'plan (s)', 'handshakes/host', 'commands/host', 'sftp/host'], rows);
}

function formatRows(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '3,9' },
      'sim-hosts': { type: 'string', default: '10,100,1000' },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
      save: { type: 'boolean', default: false },
      lab: { type: 'string', default: 'bench' },
    },
  });
  const counts = hostCounts(values.hosts);
  LAB = values.lab;
  const wanted = (part: string) => values.only === undefined || values.only === part;
  if (wanted('pki')) {
    console.log(await pkiFigures([3, 100]));
    console.log('issue: every CA, key and certificate in memory; keep: written to the local store (synced); re-run: a run that finds nothing to issue.\n');
  }
  if (values.only === 'pki') return;
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const figures: Record<string, number> = {};
  if (wanted('startup')) {
    const startup = await measureStartup();
    console.log(`${startupLines(startup).join('\n')}\n`);
    Object.assign(figures, startupFigures(startup));
  }
  if (wanted('sim')) {
    console.log(`simulated hosts (${values['sim-hosts']}): the controller alone, \`apply --phase ${SIM_PHASES.join(',')}\` against in-process SSH servers (test/bench/sim/)`);
    Object.assign(figures, simFigures(await measureSim(hostCounts(values['sim-hosts']), (line) => console.log(line))));
    console.log('  first run: every host fresh; no-op: every host converged; add one: the inventory plus a fresh host, `apply --limit` it.');
    console.log('  wall: process start to exit; CPU: user + system of the controller process; RSS: its peak.\n');
  }
  const previous = readResults();
  if (Object.keys(figures).length) console.log(`${comparisonLines(figures, previous).join('\n')}\n`);
  if (values.save) {
    saveResults(figures, previous);
    console.log(`saved to ${RESULTS_FILE}`);
  }
  if (values.only === 'startup' || values.only === 'sim') return;
  console.log(`bench: lab '${LAB}', ${process.env.CI ? 'CI' : 'local'} machine, ${counts.join(' / ')} fresh hosts`);
  await labUp({ name: LAB, hosts: 0 });
  const bundleDir = await labBundle();
  const results: Measured[] = [];
  try {
    for (const count of counts) results.push(await measure(count, values.only, bundleDir));
  } finally {
    if (!values.keep) await labDown(LAB);
  }
  const osRows = results.flatMap((r) => (r.os ? [r.os] : []));
  if (osRows.length) {
    console.log(table(osRows));
    console.log('first apply: fresh hosts, wall time of `node bin/bootstrap.js apply --phase os`, then `--phase pki`, incl. process start;');
    console.log('no-op: `apply --phase os,pki` again; engine: the run inside the process (connect to report).');
  }
  const clusterRows = results.flatMap((r) => (r.cluster ? [r.cluster] : []));
  if (clusterRows.length) {
    console.log(
      `\n${formatRows(['hosts', 'init (s)', 'no-op apply (s)', 'no-op engine (s)', 'plan (s)', 'health (s)', 'handshakes/host', 'commands/host', 'sftp/host', 'host CPU of the no-op (s): min-max (median)', 'masters: commands / channels'], clusterRows)}`,
    );
    console.log('init: fresh hosts to every node Ready (os, runtime, artifacts from the lab bundle, pki, etcd, control plane, kubelets, flannel, CoreDNS);');
    console.log("  the Kubernetes components are the lab's python stand-ins. no-op: `apply` of every phase again; round trips of that run.");
    console.log("  host CPU: each lab host's cgroup CPU (cpuacct) across the no-op run less over as long again idle right after (shown: idle):");
    console.log('    its fact command, its probe and what they start;');
    console.log("  masters: each master's commands (facts + probe = 2: none for the cluster checks) and forwarded channels (the controller's own API requests).");
  }
  const uploadRows = results.flatMap((r) => (r.upload ? [r.upload] : []));
  if (uploadRows.length) {
    console.log(`\n${uploadTable(uploadRows)}`);
    console.log("upload: `apply --phase artifacts` of the binaries of an etcd+master+worker (a 400 MB Kubernetes set + the lab bundle's etcd and others) to every host,");
    console.log('  from a warm cache (compressing for the wire is once per file, ever: ' + uploadRows.map((r) => `${r.encodeSeconds.toFixed(1)} s`).join(', ') + ' here);');
    console.log(`  scp: one OpenSSH scp per host, all at once, of the same files, into a folder on BIN_PATH's filesystem; best of ${ROUNDS} rounds each;`);
    console.log("  ratio = best kubestrap / best scp; paired = the median over rounds of kubestrap / scp of the same round (the machine's speed drifts).");
    console.log('  zstd is what UPLOAD_COMPRESSION=auto picks on these hosts (they have zstd); gzip where a host lacks it; none when set.');
    console.log('  Here every byte costs CPU on the 2 cores that the controller and every host share: compression saves encryption,');
    console.log('  network stack and disk work on both ends; on a real network it also saves the link (zstd and gzip send about 1/3).');
  }
}

function hostCounts(list: string): number[] {
  const counts = list.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`host counts are numbers such as 3,9,20, not ${list}`);
  return counts;
}

function startupFigures(f: StartupFigures): Record<string, number> {
  return {
    'start-up: `bootstrap --help` (s)': f.helpSeconds,
    ...Object.fromEntries(f.firstPacket.map((p) => [`start-up: first SSH packet of \`${p.command}\` (s)`, p.seconds])),
  };
}

function simFigures(rows: readonly SimFigures[]): Record<string, number> {
  return Object.fromEntries(
    rows.flatMap((r) => [
      [`sim ${r.hosts} hosts, ${r.case}: wall (s)`, r.wallSeconds],
      [`sim ${r.hosts} hosts, ${r.case}: CPU (s)`, r.cpuSeconds],
      [`sim ${r.hosts} hosts, ${r.case}: peak RSS (MB)`, r.peakRssMb],
    ]),
  );
}

/** The PKI alone, on the controller: inventories of `counts` hosts (3 etcd+master, the rest workers); no host is contacted. */
async function pkiFigures(counts: number[]): Promise<string> {
  const rows: string[][] = [];
  // The first issue in a process loads the X.509 library's schemas: a warm-up run, not reported.
  for (const [i, count] of [1, ...counts].entries()) {
    const dir = mkdtempSync(join(tmpdir(), 'kubestrap-bench-pki-'));
    try {
      const hosts = Array.from({ length: count }, (_, i) => `  - { name: n${i}, address: 10.1.${Math.floor(i / 250)}.${(i % 250) + 1}, roles: [${i < 3 ? 'etcd, master' : 'worker'}] }`);
      writeFileSync(join(dir, 'inventory.yaml'), `cluster: bench\nhosts:\n${hosts.join('\n')}\n`);
      copyFileSync('config.example.properties', join(dir, 'config.properties'));
      const spec = loadClusterSpec({ inventoryFile: join(dir, 'inventory.yaml'), configFile: join(dir, 'config.properties') });
      const store = localPkiStore(spec);
      const time = async <T>(fn: () => Promise<T>): Promise<[T, string]> => {
        const started = process.hrtime.bigint();
        const result = await fn();
        return [result, (Number(process.hrtime.bigint() - started) / 1e9).toFixed(2)];
      };
      const [pki, issue] = await time(() => reconcilePki(spec, store, { now: new Date() }));
      const [, keep] = await time(() => pki.persist());
      const [again, rerun] = await time(() => reconcilePki(spec, store, { now: new Date() }));
      if (again.issued.length) throw new Error('a re-run issued something');
      if (i > 0) rows.push([String(count), String(pki.issued.length), issue, keep, rerun]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return formatRows(['hosts', 'items issued', 'issue (s)', 'keep (s)', 're-run (s)'], rows);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
