/**
 * `npm run bench [-- --hosts 3,9,20] [--keep] [--lab NAME] [--pki-only]`: the numbers the design promises, measured on lab
 * hosts with the built CLI exactly as an operator runs it (process start included).
 *   - wall time of the first `apply --phase os` on fresh hosts (firewalld running, swap in fstab),
 *     then of the first `apply --phase pki` (the whole PKI issued, kept and distributed)
 *   - wall time of a no-op re-run of every phase, and of a `plan`
 *   - SSH round trips per host of the no-op run (handshakes, commands, SFTP requests)
 *   - without hosts: time to issue the whole PKI for a 3-host and a 100-host inventory, to keep it
 *     in the local store, and to find on a re-run that nothing needs issuing
 * Prints figures; asserts nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { localPkiStore } from '../../src/pki/store.js';
import { addHosts, labDown, labUp, removeHosts, writeInventory } from '../lab/index.js';

/** `--lab NAME`: several people may bench on one machine. */
let LAB = 'bench';
const CLI = join(process.cwd(), 'bin/bootstrap.js');

interface Report {
  ok: boolean;
  durationMs: number;
  hosts: Array<{ roundTrips: { handshakes: number; execs: number; sftpOps: number } | null }>;
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

async function measure(count: number): Promise<string[]> {
  const hosts = await addHosts(LAB, count);
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-bench-'));
  try {
    const lab = await labUp({ name: LAB });
    await writeInventory({ ...lab, hosts }, join(dir, 'inventory.yaml'));
    copyFileSync('config.example.properties', join(dir, 'config.properties'));
    const args = (cmd: string, ...extra: string[]) => [cmd, '-i', join(dir, 'inventory.yaml'), '-c', join(dir, 'config.properties'), ...extra];

    const first = run(args('apply', '--phase', 'os'));
    const pki = run(args('apply', '--phase', 'pki'));
    const noop = run(args('apply'));
    const plan = run(args('plan'));
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
  } finally {
    await removeHosts(LAB, hosts.map((h) => h.name));
    rmSync(dir, { recursive: true, force: true });
  }
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
    options: { hosts: { type: 'string', default: '3,9' }, keep: { type: 'boolean', default: false }, 'pki-only': { type: 'boolean', default: false }, lab: { type: 'string', default: 'bench' } },
  });
  const counts = values.hosts.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--hosts takes host counts such as 3,9,20`);
  LAB = values.lab;
  if (!values['pki-only']) await labFigures(counts, values.keep);
  console.log(await pkiFigures([3, 100]));
  console.log('issue: every CA, key and certificate in memory; keep: written to the local store (synced); re-run: a run that finds nothing to issue.');
}

async function labFigures(counts: number[], keep: boolean): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  console.log(`bench: lab '${LAB}', ${process.env.CI ? 'CI' : 'local'} machine, ${counts.join(' / ')} fresh hosts`);
  await labUp({ name: LAB, hosts: 0 });
  const rows: string[][] = [];
  try {
    for (const count of counts) rows.push(await measure(count));
  } finally {
    if (!keep) await labDown(LAB);
  }
  console.log(table(rows));
  console.log('first apply: fresh hosts, wall time of `node bin/bootstrap.js apply --phase os`, then `--phase pki`, incl. process start;');
  console.log('no-op: `apply` (every phase) again; engine: the run inside the process (connect to report).');
  console.log('');
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
