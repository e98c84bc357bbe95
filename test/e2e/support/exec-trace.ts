import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allPids, innermostPid, sleep } from '../../lab/proc.js';
import type { LabHosts } from './hosts.js';

/** A program started on a host: its path and its arguments as strace printed them. */
export interface StartedProgram {
  path: string;
  argv: string;
}

export interface ExecTrace {
  /** Stops tracing; resolves to every program started through the host's sshd meanwhile, in order. */
  stop(): Promise<StartedProgram[]>;
}

/**
 * Every program a host starts for an SSH client while the trace runs: strace -f on the host's sshd,
 * from the lab machine (a lab host is a container, its processes are the machine's), following
 * each connection's processes, their shells and what those start. What kubestrap runs on a host
 * comes through sshd, and the test's own commands (hosts.run) do not: they enter by nsenter.
 */
export async function traceSshExecs(hosts: LabHosts, i: number): Promise<ExecTrace> {
  const [ns, inner] = (await hosts.run(i, 'readlink /proc/1/ns/pid; systemctl show -p MainPID --value ssh')).trim().split('\n');
  const sshd = allPids().find((p) => nsOf(p) === ns && innermostPid(p) === Number(inner));
  if (sshd === undefined) throw new Error(`no sshd (pid ${inner} in ${ns}) of ${hosts.host(i).name} seen from the lab machine`);
  const out = join(tmpdir(), `exec-trace-${hosts.host(i).name}-${process.pid}-${Date.now()}`);
  const strace = spawn('strace', ['-f', '-qq', '-s', '512', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, '-p', String(sshd)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  strace.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => strace.once('exit', () => resolve()));
  // Attached once sshd names strace as its tracer: only then is no start missed.
  for (let t = 0; tracerOf(sshd) !== strace.pid; t++) {
    if (t > 100 || strace.exitCode !== null) throw new Error(`strace did not attach to ${hosts.host(i).name}'s sshd (pid ${sshd}): ${stderr}`);
    await sleep(50);
  }
  let stopped: Promise<StartedProgram[]> | undefined;
  const stop = async (): Promise<StartedProgram[]> => {
    strace.kill('SIGTERM');
    await exited;
    const text = readFileSync(out, 'utf8');
    rmSync(out, { force: true });
    return text.split('\n').flatMap((line) => {
      // A failed execve (a PATH search's miss) started nothing.
      const m = /^\d+\s+execve\("([^"]*)", \[(.*)\]/.exec(line);
      return m && !/ = -1 E/.test(line) ? [{ path: m[1]!, argv: m[2]! }] : [];
    });
  };
  // Once: a second stop (a finally after a failure) answers the same.
  return { stop: () => (stopped ??= stop()) };
}

function nsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

function tracerOf(pid: number): number | undefined {
  try {
    const m = /^TracerPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The arguments of each start of the program named `name` (etcdctl, kubectl) in a trace, in order. */
export function startsOf(programs: readonly StartedProgram[], name: string): string[] {
  return programs.filter((p) => p.path.endsWith(`/${name}`)).map((p) => p.argv);
}

/** `work` while the hosts `which` are traced: its result and, per traced host, what it started through sshd. */
export async function whileTracing<T>(hosts: LabHosts, which: readonly number[], work: () => Promise<T>): Promise<{ result: T; started: StartedProgram[][] }> {
  const traces = await Promise.all(which.map((i) => traceSshExecs(hosts, i)));
  try {
    const result = await work();
    return { result, started: await Promise.all(traces.map((t) => t.stop())) };
  } finally {
    await Promise.all(traces.map((t) => t.stop()));
  }
}
