/**
 * Start-up of the built CLI, as an operator starts it (`node bin/bootstrap.js`, process start included):
 *   - `bootstrap --help`: wall time of the whole process, the median of HELP_RUNS
 *   - the first SSH packet of a `plan` and an `apply`: from spawning the process to the first byte
 *     (the client's SSH identification line) reaching a TCP listener on 127.0.0.1, the only host of the
 *     inventory; the listener never answers, and the process is killed once the byte is there.
 * Prints figures; asserts nothing. Only 127.0.0.1 is ever contacted (no ssh_config, no agent).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './upload.js';

const CLI = join(process.cwd(), 'bin/bootstrap.js');
const HELP_RUNS = 11;
const PACKET_RUNS = 5;
/** A run that has sent nothing by then is broken, not slow. */
const PACKET_TIMEOUT_MS = 30_000;

export interface StartupFigures {
  helpSeconds: number;
  /** Per command line (`plan`, `apply --phase os`...): seconds to the first SSH byte, median. */
  firstPacket: Array<{ command: string; seconds: number }>;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

function helpSeconds(): number {
  const runs = Array.from({ length: HELP_RUNS }, () => {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [CLI, '--help'], { stdio: 'ignore' });
    if (result.status !== 0) throw new Error(`bootstrap --help exited ${result.status}`);
    return seconds(started);
  });
  return median(runs);
}

/** A listener that hands over the time its first byte arrives, once per call of `next`. */
async function firstByteListener(): Promise<{ server: Server; port: number; next(): Promise<bigint> }> {
  let arrived: (at: bigint) => void = () => undefined;
  const server = createServer((socket) => {
    socket.once('data', () => {
      arrived(process.hrtime.bigint());
      socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the listener has no port');
  return { server, port: address.port, next: () => new Promise<bigint>((resolve) => (arrived = resolve)) };
}

/** A one-host cluster at 127.0.0.1:port, in a folder of its own (its state folder too). */
function localCluster(dir: string, port: number): string[] {
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'inventory.yaml'),
    `cluster: startup\nssh:\n  user: bench\n  port: ${port}\n  keyFile: key\nhosts:\n  - { name: local, address: 127.0.0.1, roles: [etcd, master, worker] }\n`,
  );
  copyFileSync('config.example.properties', join(dir, 'config.properties'));
  return ['-i', join(dir, 'inventory.yaml'), '-c', join(dir, 'config.properties'), '--no-ssh-config', '--output', 'plain'];
}

async function firstPacketSeconds(args: string[], next: () => Promise<bigint>): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < PACKET_RUNS; i++) {
    const arrival = next();
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore', env: { ...process.env, SSH_AUTH_SOCK: '' } });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = setTimeout(() => child.kill(), PACKET_TIMEOUT_MS);
    const at = await Promise.race([arrival, exited.then(() => undefined)]);
    clearTimeout(timer);
    child.kill();
    await exited;
    if (at === undefined) throw new Error(`bootstrap ${args.join(' ')} ended without sending anything to 127.0.0.1`);
    runs.push(Number(at - started) / 1e9);
  }
  return median(runs);
}

export async function measureStartup(): Promise<StartupFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-bench-startup-'));
  const listener = await firstByteListener();
  try {
    const cluster = localCluster(dir, listener.port);
    const firstPacket: StartupFigures['firstPacket'] = [];
    for (const command of [['plan'], ['apply'], ['apply', '--phase', 'os']]) {
      firstPacket.push({ command: command.join(' '), seconds: await firstPacketSeconds([...command, ...cluster], listener.next) });
    }
    return { helpSeconds: helpSeconds(), firstPacket };
  } finally {
    listener.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function startupLines(figures: StartupFigures): string[] {
  return [
    `start-up: \`bootstrap --help\` ${figures.helpSeconds.toFixed(3)} s (median of ${HELP_RUNS} runs, process start included)`,
    ...figures.firstPacket.map((f) => `  first SSH packet of \`${f.command}\`: ${f.seconds.toFixed(3)} s after the process was started (median of ${PACKET_RUNS})`),
  ];
}
