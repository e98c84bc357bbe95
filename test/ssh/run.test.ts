import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SshError } from '../../src/errors.js';
import { formatKnownHostsLine } from '../../src/ssh/known-hosts.js';
import type { SshLogEvent } from '../../src/ssh/log.js';
import type { SshTarget } from '../../src/ssh/target.js';
import { clientKeyFile, keyPair, pool, target, tempDir } from './support/fixtures.js';
import { startTestServer, type TestServer, type TestUser } from './support/test-server.js';

/** run(): exit codes and output, stdin, timeouts, sudo in all its moods, channel limits, lost connections. */

let dir: string;
let knownHosts: string;
let keyFile: string;
let server: TestServer;
let events: SshLogEvent[];
/** Every event of every pool in the test. */
let allEvents: SshLogEvent[] = [];

const SUDO_PW = 'sudo-secret-4711';
const LOGIN_PW = 'login-secret-0815';

async function connect(user: string, users: Record<string, TestUser>, over: Partial<SshTarget> = {}, opts: { commandTimeoutMs?: number } = {}) {
  const hostKey = keyPair('ed25519');
  const client = await clientKeyFile(dir);
  keyFile = client.file;
  const withKey = Object.fromEntries(Object.entries(users).map(([n, u]) => [n, { publicKey: client.pair.public, ...u }]));
  server = await startTestServer({ hostKeys: [hostKey.private], users: withKey });
  await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', server.port, hostKey.blob)}\n`);
  const made = pool({ knownHostsFile: knownHosts, ...opts, log: (e) => allEvents.push(e) });
  events = made.events;
  return made.pool.connect(target(server.port, { user, auth: { keyFile }, ...over }));
}

/** Whether a process with this command line runs on this machine (the test server's "host"). */
function running(cmdline: string): boolean {
  return spawnSync('pgrep', ['-f', `^${cmdline}$`]).status === 0;
}

async function rejection(p: Promise<unknown>): Promise<SshError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SshError);
  return err as SshError;
}

beforeEach(async () => {
  dir = await tempDir();
  knownHosts = path.join(dir, 'known_hosts');
  process.env.KS_SUDO_PW = SUDO_PW;
  process.env.KS_LOGIN_PW = LOGIN_PW;
  allEvents = [];
});
afterEach(async () => {
  await server?.stop();
});

describe('run as root', () => {
  it('returns exit code, stdout and stderr, and counts one exec per run', async () => {
    const host = await connect('root', { root: {} });
    const res = await host.run('echo out; echo err >&2; exit 3');
    expect(res).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(host.stats).toEqual({ handshakes: 1, execs: 1, sftpOps: 0 });
    // Wrapped in sh -c so the script is POSIX sh whatever root's login shell is.
    expect(server.commands[0]).toMatch(/^sh -c '/);
    const ev = events.find((e) => e.kind === 'exec');
    expect(ev).toMatchObject({ host: 'node1', command: 'echo out; echo err >&2; exit 3', exitCode: 3 });
    expect(ev?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('passes quotes, newlines and $ through untouched', async () => {
    const host = await connect('root', { root: {} });
    const script = `x='it'"'"'s'\nprintf '%s|%s\\n' "$x" '$HOME \`id\`'`;
    expect((await host.run(script)).stdout).toBe("it's|$HOME `id`\n");
  });

  it('feeds stdin (string and binary) and always closes it', async () => {
    const host = await connect('root', { root: {} });
    expect((await host.run('cat', { stdin: 'hello\n' })).stdout).toBe('hello\n');
    const bin = Buffer.from([0, 1, 2, 255, 10]);
    expect((await host.run('od -An -tx1 | tr -d " \\n"', { stdin: bin })).stdout).toBe('000102ff0a');
    // Without stdin, a command that reads it sees EOF at once instead of hanging.
    expect((await host.run('cat; echo done')).stdout).toBe('done\n');
  });

  it('reports a command killed by a signal', async () => {
    const host = await connect('root', { root: {} });
    // timeout(1) passes its command's death by signal on to sshd as its own.
    const res = await host.run('kill -TERM $$');
    expect(res.signal).toBe('SIGTERM');
    expect(res.code).toBe(128 + 15);
  });

  it('times out a command, naming the host and the first line, and the connection stays usable', async () => {
    const host = await connect('root', { root: {} }, {}, { commandTimeoutMs: 60_000 });
    const started = Date.now();
    const err = await rejection(host.run('sleep 29.5\necho never', { timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err.stage).toBe('exec');
    expect(err.host).toBe('node1');
    expect(err.message).toBe('command timed out after 300 ms: sleep 29.5');
    // The host itself kills it one second after the (rounded-up) deadline: nothing keeps running.
    expect(running('sleep 29.5')).toBe(true);
    await vi.waitFor(() => expect(running('sleep 29.5')).toBe(false), { timeout: 3000, interval: 100 });
    expect((await host.run('echo still-here')).stdout).toBe('still-here\n');
  });

  it('uses commandTimeoutMs as the default timeout', async () => {
    const host = await connect('root', { root: {} }, {}, { commandTimeoutMs: 200 });
    const err = await rejection(host.run('sleep 5'));
    expect(err.message).toContain('timed out after 200 ms');
  });

  it('refuses a script too long for one command line, before sending it', async () => {
    const host = await connect('root', { root: {} });
    const err = await rejection(host.run(`: ${'x'.repeat(130 * 1024)}`));
    expect(err.stage).toBe('exec');
    expect(host.stats.execs).toBe(0);
  });

  it('queues channels: 20 parallel runs never exceed 8 open sessions', async () => {
    const host = await connect('root', { root: {} });
    const counter = path.join(dir, 'live');
    // Each command records how many are running at once (mkdir is atomic).
    const script = `n=0; while ! mkdir ${counter}.lock 2>/dev/null; do :; done
c=$(cat ${counter} 2>/dev/null || echo 0); c=$((c+1)); echo $c > ${counter}; echo $c >> ${counter}.log; rmdir ${counter}.lock
sleep 0.2
while ! mkdir ${counter}.lock 2>/dev/null; do :; done; c=$(cat ${counter}); echo $((c-1)) > ${counter}; rmdir ${counter}.lock`;
    const results = await Promise.all(Array.from({ length: 20 }, () => host.run(script)));
    expect(results.every((r) => r.code === 0)).toBe(true);
    const peak = Math.max(...(await host.run(`cat ${counter}.log`)).stdout.trim().split('\n').map(Number));
    expect(peak).toBeLessThanOrEqual(8);
    expect(peak).toBeGreaterThanOrEqual(2);
    expect(host.stats.execs).toBe(21);
  });

  it('rejects running commands clearly when the connection is lost, and later calls too', async () => {
    const host = await connect('root', { root: {} });
    const running = host.run('sleep 10');
    await new Promise((r) => setTimeout(r, 200));
    await server.stop();
    const err = await rejection(running);
    expect(err.stage).toBe('exec');
    expect(err.message).toMatch(/connection lost .*sleep 10/);
    const later = await rejection(host.run('echo hi'));
    expect(later.message).toMatch(/connection lost .*echo hi/);
  });
});

describe('run as a sudo user', () => {
  it('wraps in sudo -n sh -c for a NOPASSWD user and strips its marker', async () => {
    const host = await connect('ops', { ops: { sudo: 'nopasswd' } });
    const res = await host.run('echo out; echo err >&2; exit 4');
    expect(res).toEqual({ code: 4, stdout: 'out\n', stderr: 'err\n' });
    expect(server.commands[0]).toMatch(/^sudo -n sh -c '/);
    expect((await host.run('cat', { stdin: 'through sudo' })).stdout).toBe('through sudo');
  });

  it('explains a sudo that wants a password', async () => {
    const host = await connect('ops', { ops: { sudo: 'password', sudoPassword: SUDO_PW } });
    const err = await rejection(host.run('id -u'));
    expect(err.stage).toBe('sudo');
    expect(err.message).toBe('sudo for ops needs a password');
    expect(err.hint).toContain('NOPASSWD');
    expect(err.hint).toContain('sudoPasswordEnv');
  });

  it('feeds the sudo password on stdin (sudo -S), and refuses caller stdin alongside it', async () => {
    const host = await connect('opspw', { opspw: { sudo: 'password', sudoPassword: SUDO_PW } }, { sudoPasswordEnv: 'KS_SUDO_PW' });
    const res = await host.run('echo as-root; cat');
    expect(res).toEqual({ code: 0, stdout: 'as-root\n', stderr: '' });
    expect(server.commands[0]).toMatch(/^sudo -S -p '' sh -c '/);
    expect(server.commands[0]).not.toContain(SUDO_PW);
    const err = await rejection(host.run('cat', { stdin: 'data' }));
    expect(err.stage).toBe('sudo');
    expect(err.message).toContain('cannot pass stdin');
  });

  it('reports a wrong sudo password as a sudo error naming the env var', async () => {
    process.env.KS_SUDO_PW = 'not-it-9999';
    const host = await connect('opspw', { opspw: { sudo: 'password', sudoPassword: SUDO_PW } }, { sudoPasswordEnv: 'KS_SUDO_PW' });
    const err = await rejection(host.run('id -u'));
    expect(err.stage).toBe('sudo');
    expect(err.message).toBe('sudo rejected the password for opspw');
    expect(err.hint).toContain('KS_SUDO_PW');
    expect(err.format()).not.toContain('not-it-9999');
  });

  it('fails at connect when the sudo password env var is unset', async () => {
    delete process.env.KS_SUDO_PW;
    const err = await rejection(connect('opspw', { opspw: { sudo: 'password' } }, { sudoPasswordEnv: 'KS_SUDO_PW' }));
    expect(err.stage).toBe('sudo');
    expect(err.message).toContain('KS_SUDO_PW');
    expect(server.connections).toBe(0);
  });

  it('explains a user who may not sudo', async () => {
    const host = await connect('guest', { guest: { sudo: 'denied' } });
    const err = await rejection(host.run('true'));
    expect(err.message).toBe('guest may not use sudo on this host');
  });

  it('retries with a pty when sudo requires a tty, then keeps using one for that host', async () => {
    const host = await connect('eluser', { eluser: { sudo: 'nopasswd', requiretty: true } });
    const res = await host.run('echo tty-ok');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('tty-ok\n');
    expect((await host.run('echo second')).stdout).toBe('second\n');
    expect(server.commands).toHaveLength(3); // refused, retried with pty, then pty straight away
    expect(server.ptyExecs).toBe(2);
    expect(events.some((e) => e.kind === 'sudo-tty')).toBe(true);
    const err = await rejection(host.run('cat', { stdin: 'x' }));
    expect(err.message).toContain('requiretty');
  });

  it('with a password and requiretty: the password still goes on stdin and is not echoed', async () => {
    const host = await connect('elpw', { elpw: { sudo: 'password', sudoPassword: SUDO_PW, requiretty: true } }, { sudoPasswordEnv: 'KS_SUDO_PW' });
    const res = await host.run('echo fine');
    expect(res.stdout).toBe('fine\n');
    expect(server.ptyExecs).toBe(1);
    expect(JSON.stringify(res)).not.toContain(SUDO_PW);
  });
});

describe('secrets', () => {
  it('never puts the login password or the sudo password in a log event or an error', async () => {
    const host = await connect('opspw', { opspw: { password: LOGIN_PW, sudo: 'password', sudoPassword: SUDO_PW } }, { auth: { passwordEnv: 'KS_LOGIN_PW' }, sudoPasswordEnv: 'KS_SUDO_PW' });
    const errors: string[] = [];
    await host.run('echo hi');
    errors.push((await rejection(host.run('sleep 5', { timeoutMs: 100 }))).format());
    // Its parent is a regular file, so the install fails and its error quotes the host's stderr.
    await host.putFile(path.join(server.home, '.fakebin', 'sudo', 'x'), 'data', { mode: 0o644, currentSha256: null }).then(
      () => expect.unreachable(),
      (e: SshError) => errors.push(e.format()),
    );

    process.env.KS_SUDO_PW = 'wrong-sudo-pw-xyz';
    const other = await connect('opspw', { opspw: { password: LOGIN_PW, sudo: 'password', sudoPassword: SUDO_PW } }, { auth: { passwordEnv: 'KS_LOGIN_PW' }, sudoPasswordEnv: 'KS_SUDO_PW' });
    errors.push((await rejection(other.run('true'))).format());
    process.env.KS_LOGIN_PW = 'wrong-login-pw-xyz';
    errors.push((await rejection(connect('opspw', { opspw: { password: LOGIN_PW } }, { auth: { passwordEnv: 'KS_LOGIN_PW' } }))).format());

    const logged = JSON.stringify(allEvents);
    expect(allEvents.length).toBeGreaterThan(10);
    for (const secret of [LOGIN_PW, SUDO_PW, 'wrong-sudo-pw-xyz', 'wrong-login-pw-xyz']) {
      expect(logged).not.toContain(secret);
      for (const e of errors) expect(e).not.toContain(secret);
    }
    expect(errors).toHaveLength(4);
  });

  it('hands output back raw, so a password that also appears in a host file parses (and is written back) unchanged', async () => {
    // A short password, as common in a lab: scrubbing output before parsing it corrupted every file holding those letters.
    process.env.KS_SUDO_PW = 'ab';
    const host = await connect('opspw', { opspw: { sudo: 'password', sudoPassword: 'ab' } }, { sudoPasswordEnv: 'KS_SUDO_PW' });
    const res = await host.run(`printf '127.0.0.1 localhost lab\\n10.0.0.1 ab-host # ab\\n'; printf 'ab\\n' >&2`);
    expect(res.stdout).toBe('127.0.0.1 localhost lab\n10.0.0.1 ab-host # ab\n');
    expect(res.stderr).toBe('ab\n');
  });
});
