/**
 * The binary upload, measured: kubestrap's `apply --phase artifacts` sending a 400 MB set of
 * binaries to every host, next to OpenSSH's scp of the same files to the same hosts (one scp per
 * host, all at once, into a folder on the same filesystem as BIN_PATH) in the same run. Also the
 * bytes kubestrap sent per host, the controller's peak memory, and the no-op re-run. The lab's hosts
 * share this machine's CPUs and talk over a local bridge, so the link is never the bottleneck here:
 * every byte costs CPU on both ends (encryption, the network stack, the disk), which compression
 * saves and decompression spends. zstd decompresses for a fraction of what it saves; gzip for more.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactCache, userCacheDir } from '../../src/artifacts/cache.js';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { PROJECT_VERSION_KEYS } from '../../src/config/project-versions.js';
import type { TransferCodec } from '../../src/transfer/transfer-codec.js';
import type { Project } from '../../src/upstream/index.js';
import { sshArgs, writeInventory, type LabHost, type LabInfo } from '../lab/index.js';

const CLI = join(process.cwd(), 'bin/bootstrap.js');
const PEAK_RSS = join(process.cwd(), 'test/bench/peak-rss.mjs');

/** Sizes of the Kubernetes binaries of a release, roughly (MB): 400 MB in all. */
const SET: Record<string, number> = { 'kube-apiserver': 90, 'kube-controller-manager': 80, kubelet: 75, 'kube-scheduler': 60, kubectl: 55, 'kube-proxy': 40 };

/**
 * Stand-ins of realistic size and compressibility: real executables of this machine (node, then
 * /usr/bin) concatenated, each file different. Built once in the temp folder.
 */
function binarySet(kubeVersion: string): { dir: string; manifest: string } {
  const dir = join(tmpdir(), 'kubestrap-bench-binaries');
  const manifest = join(dir, `manifest-${kubeVersion}.json`);
  mkdirSync(dir, { recursive: true });
  const sources = [process.execPath, ...readdirSync('/usr/bin').map((f) => join('/usr/bin', f))].filter((f) => {
    try {
      return statSync(f).isFile() && statSync(f).size > 100_000;
    } catch {
      return false;
    }
  });
  let next = 0;
  const artifacts = Object.entries(SET).map(([component, mb]) => {
    const file = join(dir, component);
    if (!existsSync(file) || statSync(file).size !== mb * 1024 * 1024) {
      const fd = openSync(file, 'w');
      let left = mb * 1024 * 1024;
      writeSync(fd, Buffer.from(`${component}\n`));
      left -= component.length + 1;
      while (left > 0) {
        const chunk = readFileSync(sources[next++ % sources.length]!).subarray(0, left);
        writeSync(fd, chunk);
        left -= chunk.length;
      }
      closeSync(fd);
    }
    return { component, version: kubeVersion, arch: 'amd64', file: component, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), size: statSync(file).size };
  });
  writeFileSync(manifest, JSON.stringify({ artifacts }, null, 2));
  return { dir, manifest };
}

interface Timed {
  seconds: number;
  peakRssMb?: number;
  bytesPerHost?: number[];
}

function kubestrap(args: string[], env: NodeJS.ProcessEnv): Timed {
  const peakFile = join(tmpdir(), `kubestrap-bench-peak-${process.pid}`);
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', PEAK_RSS, CLI, ...args, '--output', 'json'], {
    encoding: 'utf8',
    env: { ...env, KUBESTRAP_PEAK_RSS_FILE: peakFile },
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`bootstrap ${args.join(' ')} exited ${r.status}:\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`);
  const report = JSON.parse(r.stdout) as { hosts: Array<{ roundTrips: { streamedBytes?: number } | null }> };
  return {
    seconds,
    peakRssMb: Number(readFileSync(peakFile, 'utf8')) / 1024,
    bytesPerHost: report.hosts.map((h) => h.roundTrips?.streamedBytes ?? 0),
  };
}

/**
 * Where scp writes: next to BIN_PATH, on the same filesystem. The hosts' /tmp is a tmpfs, where
 * writes cost far less than on the disk the binaries go to: scp there would race an easier course.
 */
const SCP_DIR = '/opt/scp-bench';

/** One scp per host, all at once, each copying every file: what an operator would do by hand. */
async function scpAll(lab: LabInfo, hosts: LabHost[], files: string[]): Promise<Timed> {
  const ssh = sshArgs(lab.sshKey, lab.knownHosts);
  for (const h of hosts) spawnSync('ssh', [...ssh, `root@${h.address}`, `rm -rf ${SCP_DIR} && mkdir -p ${SCP_DIR}`]);
  const started = process.hrtime.bigint();
  await Promise.all(
    hosts.map(
      (h) =>
        new Promise<void>((resolve, reject) => {
          const p = spawn('scp', ['-q', ...ssh, ...files, `root@${h.address}:${SCP_DIR}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`scp to ${h.name} exited ${code}: ${err}`))));
        }),
    ),
  );
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

function wipe(lab: LabInfo, hosts: LabHost[]): void {
  const ssh = sshArgs(lab.sshKey, lab.knownHosts);
  for (const h of hosts) spawnSync('ssh', [...ssh, `root@${h.address}`, `rm -rf /opt/kube/bin /opt/cni/bin ${SCP_DIR} /var/lib/kubestrap/installed.jsonl`]);
}

/** How kubestrap sends, measured in this order; zstd is what `auto` picks when both ends have it. */
const CODECS = ['zstd', 'gzip', 'none'] as const satisfies readonly TransferCodec[];
/** Rounds, each scp then every codec: the machine's speed drifts, so each is also compared within its round. */
export const ROUNDS = 5;

export interface UploadRow {
  hosts: number;
  mb: number;
  scp: number;
  kubestrap: Record<TransferCodec, Timed>;
  /** Per codec, the median over rounds of kubestrap / scp of the same round. */
  pairedRatio: Record<TransferCodec, number>;
  noop: Timed;
  encodeSeconds: number;
}

/** Measures on `hosts` (already up, OS phase applied or not: only the artifacts phase runs). */
export async function measureUpload(lab: LabInfo, hosts: LabHost[], bundleDir: string, dir: string): Promise<UploadRow> {
  const bundle = loadManifest(join(bundleDir, MANIFEST_FILE));
  const kubeVersion = bundle.manifest.createdFor?.kubernetes ?? 'v1.36.0';
  const set = binarySet(kubeVersion);
  const inventory = join(dir, 'upload-inventory.yaml');
  await writeInventory({ ...lab, hosts }, inventory, { roles: Object.fromEntries(hosts.map((h) => [h.name, ['etcd', 'master', 'worker']])) });
  const config = join(dir, 'upload.properties');
  const versions = Object.entries(bundle.manifest.createdFor ?? {}).map(([p, v]) => `${PROJECT_VERSION_KEYS[p as Project]}=${v}`);
  const write = (codec: TransferCodec) => writeFileSync(config, [...versions, 'KUBELET_ALLOW_CGROUP_V1=true', `UPLOAD_COMPRESSION=${codec}`, ''].join('\n'));
  const args = ['apply', '--phase', 'artifacts', '-i', inventory, '-c', config, '--bundle', bundleDir, '--artifacts-manifest', set.manifest];
  const env = { ...process.env };

  // What kubestrap uploads to an etcd+master+worker host: the 400 MB set plus the bundle's etcd and small binaries.
  const names = [
    'etcd',
    'etcdctl',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubectl',
    'flanneld',
    'kubelet',
    'kube-proxy',
    'flannel',
    'bridge',
    'host-local',
    'loopback',
    'portmap',
  ];
  const files = names.map((n) => (SET[n] ? join(set.dir, n) : join(bundleDir, bundle.manifest.artifacts.find((a) => a.component === n)!.file!)));
  const mb = files.reduce((n, f) => n + statSync(f).size, 0) / 1024 / 1024;

  // Compressing for the wire happens once per file, ever (the cache keeps it): done here, timed apart.
  const cache = new ArtifactCache(userCacheDir());
  const began = process.hrtime.bigint();
  for (const codec of CODECS.filter((c) => c !== 'none')) {
    await Promise.all(files.map((f) => cache.encoded({ sha256: createHash('sha256').update(readFileSync(f)).digest('hex'), size: statSync(f).size }, f, codec)));
  }
  const encodeSeconds = Number(process.hrtime.bigint() - began) / 1e9;

  const best = (a: Timed | undefined, b: Timed) => (a && a.seconds <= b.seconds ? a : b);
  let scp = Infinity;
  const kubestrapBest: Partial<Record<TransferCodec, Timed>> = {};
  const ratios = Object.fromEntries(CODECS.map((c) => [c, [] as number[]])) as Record<TransferCodec, number[]>;
  for (let round = 0; round < ROUNDS; round++) {
    wipe(lab, hosts);
    const scpRound = (await scpAll(lab, hosts, files)).seconds;
    scp = Math.min(scp, scpRound);
    for (const codec of CODECS) {
      wipe(lab, hosts);
      write(codec);
      const timed = kubestrap(args, env);
      kubestrapBest[codec] = best(kubestrapBest[codec], timed);
      ratios[codec].push(timed.seconds / scpRound);
    }
  }
  const noop = kubestrap(args, env);
  const pairedRatio = Object.fromEntries(CODECS.map((c) => [c, median(ratios[c])])) as Record<TransferCodec, number>;
  return { hosts: hosts.length, mb, scp, kubestrap: kubestrapBest as Record<TransferCodec, Timed>, pairedRatio, noop, encodeSeconds };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function uploadTable(rows: UploadRow[]): string {
  const header = ['hosts', 'MB/host', 'scp (s)', ...CODECS.flatMap((c) => [`${c} (s)`, 'ratio', 'paired', 'sent/host (MB)']), 'peak RSS (MB)', 'no-op (s)', 'no-op sent'];
  const mb = (bytes: number[] | undefined) => ((bytes?.[0] ?? 0) / 1024 / 1024).toFixed(0);
  const body = rows.map((r) => [
    String(r.hosts),
    r.mb.toFixed(0),
    r.scp.toFixed(1),
    ...CODECS.flatMap((c) => [r.kubestrap[c].seconds.toFixed(1), (r.kubestrap[c].seconds / r.scp).toFixed(2), r.pairedRatio[c].toFixed(2), mb(r.kubestrap[c].bytesPerHost)]),
    Math.max(...CODECS.map((c) => r.kubestrap[c].peakRssMb ?? 0)).toFixed(0),
    r.noop.seconds.toFixed(1),
    String(Math.max(...(r.noop.bytesPerHost ?? [0]))),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}
