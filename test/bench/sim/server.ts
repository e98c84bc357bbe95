/**
 * The simulator process (`tsx test/bench/sim/server.ts OPTIONS_JSON`): one ssh2 Server per simulated
 * host of the inventory, on 127.0.0.1 at the host's port, in a process of its own so that the
 * controller's CPU and memory are measured alone. Each host answers as a real one would, without
 * running anything:
 *   - the fact command: the host's fact sections (see model.ts), with its clock stamped now;
 *   - the probe: every section empty (a fresh host), or what a converged host prints;
 *   - an apply batch: each step done (exit 0), its input (uploads) read and dropped;
 *   - putFile's look at a target: absent, owner and group root; anything else: exit 0, no output;
 *   - SFTP: writes accepted and dropped (sftp-sink.ts).
 * Any login is accepted. Prints `ready` on stdout once every host listens; ends with its stdin.
 */
import { readFileSync } from 'node:fs';
import ssh2, { type ServerChannel } from 'ssh2';
import { serveSftpSink } from './sftp-sink.js';
import { renderSections, simModel, type SimAnswers } from './model.js';

export interface SimServerOptions {
  inventory: string;
  config: string;
  hostKeyFile: string;
  phases: string[];
  /** Hosts answering as fresh; `all` for every host. */
  fresh: string[] | 'all';
}

const SECTION = /\n?printf '\\n(@@kubestrap-section-[0-9a-f]+) %s\\n' '([^']+)'\n/g;
const STEP = /printf '\\n(@@kubestrap-step-[0-9a-f]+) (\d+)\\n'/g;

/** The script a root command runs: `sh -c LAUNCHER sh SCRIPT` (src/ssh/sudo.ts), unquoted. */
export function scriptOf(command: string): string {
  const m = /^sh -c '(?:[^']|'\\'')*' sh (.*)$/s.exec(command);
  const quoted = m?.[1] ?? command;
  return quoted.startsWith("'") ? quoted.slice(1, -1).replaceAll("'\\''", "'") : quoted;
}

/** What a simulated host prints for `script`, and its exit code. */
export function answer(script: string, host: SimAnswers): { stdout: string; code: number } {
  const sections = [...script.matchAll(SECTION)];
  if (sections.length) {
    const tag = sections[0]![1]!;
    const keys = sections.map((s) => s[2]!);
    if (keys.includes('os-release')) return { stdout: renderSections(tag, keys, new Map([...host.facts, ['clock', `${Date.now()}000000`]])), code: 0 };
    const missing = host.probe ? keys.filter((k) => !host.probe!.has(k)) : [];
    if (missing.length) return { stdout: `the simulator's converged answer has no section ${missing.join(', ')}`, code: 99 };
    return { stdout: renderSections(tag, keys, host.probe ?? new Map()), code: 0 };
  }
  const steps = [...script.matchAll(STEP)];
  if (steps.length) return { stdout: steps.map((s) => `\n${s[1]} ${s[2]}\n\n${s[1]!.replace('step', 'rc')} 0\n`).join(''), code: 0 };
  // putFile's look at a target, and its owner and group names resolved (every owner is root here).
  if (/^# kubestrap: (inspect|resolve owner)/.test(script)) return { stdout: 'absent\nuid 0\ngid 0\n', code: 0 };
  return { stdout: '', code: 0 };
}

function serveExec(channel: ServerChannel, command: string, host: SimAnswers): void {
  const { stdout, code } = answer(scriptOf(command), host);
  // Whatever comes on stdin (an upload) is read and dropped; the answer goes once it has all come.
  channel.on('data', () => undefined);
  const reply = () => {
    if (code === 0) channel.write(stdout);
    else channel.stderr.write(stdout);
    channel.exit(code);
    channel.end();
  };
  if (channel.readableEnded) reply();
  else channel.once('end', reply);
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as SimServerOptions;
  const { spec, answers } = await simModel({ ...opts, fresh: opts.fresh === 'all' ? 'all' : new Set(opts.fresh) });
  const hostKey = readFileSync(opts.hostKeyFile);
  const servers = await Promise.all(
    spec.hosts.map((h) => {
      const host = answers.get(h.name)!;
      const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
        client.on('error', () => undefined);
        client.on('authentication', (ctx) => ctx.accept());
        client.on('session', (accept) => {
          const session = accept();
          session.on('exec', (acceptExec, _reject, info) => serveExec(acceptExec(), info.command, host));
          session.on('subsystem', (acceptSub, reject, info) => (info.name === 'sftp' ? serveSftpSink(acceptSub()) : reject?.()));
        });
      });
      return new Promise<ssh2.Server>((resolve, reject) => {
        server.once('error', reject);
        server.listen(h.ssh.port, '127.0.0.1', () => resolve(server));
      });
    }),
  );
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    for (const s of servers) s.close();
    process.exit(0);
  });
}

if (process.argv[1]?.endsWith('server.ts')) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
