import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Change } from '../../src/engine/change.js';
import { HOST_RECORD_DIR } from '../../src/engine/host-record.js';
import { kindOf } from '../../src/engine/kinds/index.js';
import type { KindContext } from '../../src/engine/kinds/kind.js';
import { resourceId, type Resource } from '../../src/engine/resource.js';
import { parseProbe, probeScript } from '../../src/engine/probe.js';
import { parseSections } from '../../src/engine/sections.js';
import type { TransferCodec } from '../../src/transfer/transfer-codec.js';
import { debianAdapter } from '../../src/os/debian.js';
import { elAdapter } from '../../src/os/el.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { sourceOf, type StreamSource } from '../../src/ssh/stream-source.js';

export const debianCtx: KindContext = { packages: debianAdapter };
export const elCtx: KindContext = { packages: elAdapter(9, 'dnf') };

/** Runs a POSIX sh script on this machine and returns its stdout (throws on a non-zero exit). */
export function sh(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('sh', ['-c', script], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a script and returns its exit code and output, whatever the exit code. */
export function shRun(script: string, env: NodeJS.ProcessEnv = process.env): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Like shRun, with a stream or a source fed to the script's stdin as RemoteHost.runWithInput feeds
 * it: each chunk taken (written into the pipe) before the source may reuse its memory.
 */
export async function shRunWithInput(script: string, input: Readable | StreamSource, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn('sh', ['-c', script], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const write = (chunk: Buffer) => new Promise<void>((resolve, reject) => child.stdin.write(chunk, (e) => (e ? reject(e) : resolve())));
  // A script that exits before reading all of its input breaks the pipe: that is its own failure, reported by its exit code.
  await sourceOf(input)(write).then(
    () => child.stdin.end(),
    () => child.stdin.destroy(),
  );
  const code = await exited;
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** This machine as the "host" (scripts run with sh), with kubestrap's record folder moved into `stateDir`. */
export function hostHere(stateDir: string): RemoteHost {
  const stats = { handshakes: 1, execs: 0, sftpOps: 0, streamedBytes: 0 };
  const move = (script: string) => script.replaceAll(HOST_RECORD_DIR, stateDir);
  return {
    name: 'local',
    stats,
    run: async (script) => shRun(move(script)),
    runWithInput: async (script, input) => shRunWithInput(move(script), input()),
    runToOutput: async (script, out) => shRunToOutput(move(script), out),
    putFile: async () => ({ written: true }),
    close: async () => undefined,
  };
}

/** Like shRun, with stdout piped into `out` as RemoteHost.runToOutput pipes it (`stdout` empty). */
export async function shRunToOutput(script: string, out: Writable, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn('sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const finished = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', reject);
  });
  child.stdout.pipe(out);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  await finished;
  return { code, stdout: '', stderr: Buffer.concat(err).toString('utf8') };
}

/** `data` as the controller's cache would encode it for `codec` (zstd by the real tool). */
export function encodeAs(codec: TransferCodec, data: Buffer): Buffer {
  if (codec === 'gzip') return gzipSync(data);
  if (codec === 'zstd') return execFileSync('zstd', ['-q', '-3', '-c'], { input: data, maxBuffer: 64 * 1024 * 1024 });
  return data;
}

/** The diff of `r` against a probe output, as the engine calls it. */
export function diffOf<R extends Resource>(r: R, observed: string, ctx: KindContext = debianCtx): Change | undefined {
  return kindOf(r).diff(r, observed, resourceId(r), ctx);
}

/**
 * Runs the resource's real probe on this machine, in the script the engine sends (stdin closed,
 * stderr dropped, a kind's batch probe for a batch of one), and returns what the engine would diff.
 * `edit` rewrites the script first, e.g. to point a hard-coded path at a temp file.
 */
export function observe(r: Resource, opts: { ctx?: KindContext; env?: NodeJS.ProcessEnv; edit?: (script: string) => string } = {}): string {
  const script = (opts.edit ?? ((s) => s))(probeScript([r], opts.ctx ?? debianCtx));
  // The engine ignores the probe command's exit code (the last check's); so does this.
  const stdout = shRun(script, opts.env).stdout;
  if (parseSections(stdout).size === 0) throw new Error('probe sections missing');
  return parseProbe(stdout, [r]).observed.get(resourceId(r)) ?? '';
}

/** Script texts of a change's steps (puts show as `put <path>`, uploads as `upload <path>`). */
export function stepTexts(c: Change | undefined): string[] {
  return (c?.steps ?? []).map((s) => (s.type === 'script' ? s.script : s.type === 'put' ? `put ${s.path}` : `upload ${s.upload.path}`));
}

/**
 * Fake commands (name → sh body) in `dir/bin`, and an environment whose PATH finds them first:
 * probes of tools this machine lacks (systemctl without systemd, ufw) run for real against them.
 */
export function fakeTools(dir: string, tools: Record<string, string>): NodeJS.ProcessEnv {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const [name, body] of Object.entries(tools)) {
    const file = join(bin, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
  }
  return { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
}

/** A fake `systemctl show` that prints the given properties for each unit name (others: not-found). */
export function fakeSystemctl(units: Record<string, { load: string; file: string; active: string }>): string {
  const cases = Object.entries(units)
    .map(([name, u]) => `  ${name}) printf 'LoadState=%s\\nUnitFileState=%s\\nActiveState=%s\\n' ${u.load} '${u.file}' ${u.active} ;;`)
    .join('\n');
  return `for unit; do :; done\ncase "$unit" in\n${cases}\n  *) printf 'LoadState=not-found\\nUnitFileState=\\nActiveState=inactive\\n' ;;\nesac`;
}
