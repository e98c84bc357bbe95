import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostError, SshError } from '../../src/errors.js';
import { SshPool, type SshOptions } from '../../src/ssh/pool.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import type { SshTarget } from '../../src/ssh/target.js';
import type { SshLogEvent } from '../../src/ssh/log.js';
import { OPSPW_PASSWORD } from '../lab/index.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * The SSH layer against real OpenSSH sshd and sudo on lab hosts (Debian, systemd, sshd on port 22,
 * users root and ops (NOPASSWD sudo) with the lab key, opspw with a password and password sudo).
 */

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const timings: string[] = [];

describe.skipIf(!labAvailable())('SSH layer on real sshd', () => {
  const lab = useLabHosts(2, { prefix: 'ssh', firewalld: false });
  const pools: SshPool[] = [];
  const events: SshLogEvent[] = [];
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'ks-ssh-e2e-'));
    process.env.KS_E2E_OPSPW = OPSPW_PASSWORD;
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.closeAll()));
    if (timings.length) console.log(`[ssh-e2e] timings\n  ${timings.join('\n  ')}`);
  });

  function newPool(opts: Partial<SshOptions> = {}): SshPool {
    const p = new SshPool({ knownHostsFile: lab.lab.knownHosts, acceptNewHostKeys: false, ...opts, log: (e) => events.push(e) });
    pools.push(p);
    return p;
  }

  function target(i: number, user = 'root', over: Partial<SshTarget> = {}): SshTarget {
    const h = lab.host(i);
    return { name: h.name, address: h.address, port: 22, user, auth: { keyFile: lab.lab.sshKey }, ...over };
  }

  async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const out = await fn();
    timings.push(`${label}: ${(performance.now() - started).toFixed(1)} ms`);
    return out;
  }

  describe('as root', () => {
    let host: RemoteHost;
    beforeAll(async () => {
      host = await timed('connect (TCP + handshake + auth) as root', () => newPool().connect(target(0)));
    });

    it('connects with one handshake and runs a script: one exec', async () => {
      expect(host.stats).toEqual({ handshakes: 1, execs: 0, sftpOps: 0 });
      const res = await timed('one run (id -u)', () => host.run('id -u; echo err >&2; exit 7'));
      expect(res).toEqual({ code: 7, stdout: '0\n', stderr: 'err\n' });
      expect(host.stats.execs).toBe(1);
    });

    it('putFile writes atomically with content, mode and owner; no temp file is left', async () => {
      const file = '/etc/kubestrap-test/deep/admin.conf';
      const before = { ...host.stats };
      const res = await timed('putFile as root, new file in new dirs (probe + SFTP)', () => host.putFile(file, 'secret: 1\n', { mode: 0o640, owner: 'ops', group: 'ops' }));
      expect(res).toEqual({ written: true });
      timings.push(`  round trips: execs +${host.stats.execs - before.execs}, sftpOps +${host.stats.sftpOps - before.sftpOps}`);
      expect(await lab.run(0, `cat ${file}`)).toBe('secret: 1\n');
      expect((await lab.run(0, `stat -c '%a %U %G' ${file}`)).trim()).toBe('640 ops ops');
      expect((await lab.run(0, `stat -c '%a' /etc/kubestrap-test /etc/kubestrap-test/deep`)).trim().split('\n')).toEqual(['755', '755']);
      expect((await lab.run(0, `ls -a /etc/kubestrap-test/deep`)).trim().split('\n').sort()).toEqual(['.', '..', 'admin.conf']);
    });

    it('a second putFile with the same content is skipped: one probe exec, no SFTP; with currentSha256 nothing at all', async () => {
      const file = '/etc/kubestrap-test/same.conf';
      await host.putFile(file, 'same\n', { mode: 0o644 });
      const before = { ...host.stats };
      expect(await timed('putFile unchanged (probe only)', () => host.putFile(file, 'same\n', { mode: 0o644 }))).toEqual({ written: false });
      expect(host.stats).toEqual({ ...before, execs: before.execs + 1 });
      expect(await timed('putFile unchanged with currentSha256 (no round trip)', () => host.putFile(file, 'same\n', { mode: 0o644, currentSha256: sha('same\n') }))).toEqual({ written: false });
      expect(host.stats).toEqual({ ...before, execs: before.execs + 1 });
      const changed = { ...host.stats };
      await timed('putFile changed, currentSha256 given (SFTP only)', () => host.putFile(file, 'other\n', { mode: 0o644, currentSha256: sha('same\n') }));
      timings.push(`  round trips: execs +${host.stats.execs - changed.execs}, sftpOps +${host.stats.sftpOps - changed.sftpOps}`);
      expect(await lab.run(0, `cat ${file}`)).toBe('other\n');
    });

    it('readers never see a partial file while it is replaced', async () => {
      const file = '/etc/kubestrap-test/big.conf';
      const a = 'a'.repeat(300_000);
      const b = 'b'.repeat(300_000);
      await host.putFile(file, a, { mode: 0o644, currentSha256: null });
      // A reader loops on the host, recording any content that is neither whole a nor whole b.
      const reader = lab.exec(
        0,
        `end=$(($(date +%s)+3)); bad=0; while [ $(date +%s) -lt $end ]; do s=$(sha256sum < ${file} | cut -c1-64); case $s in ${sha(a)}|${sha(b)}) ;; *) bad=$((bad+1));; esac; done; echo $bad`,
      );
      for (let i = 0; i < 6; i++) await host.putFile(file, i % 2 ? a : b, { mode: 0o644, currentSha256: null });
      expect((await reader).stdout.trim()).toBe('0');
    });

    it('latency: 10 sequential runs and 10 sequential unchanged-file probes', async () => {
      const started = performance.now();
      for (let i = 0; i < 10; i++) await host.run('true');
      timings.push(`run('true') sequential average: ${((performance.now() - started) / 10).toFixed(1)} ms`);
      const p0 = performance.now();
      for (let i = 0; i < 10; i++) await host.putFile('/etc/kubestrap-test/same.conf', 'other\n', { mode: 0o644 });
      timings.push(`putFile unchanged (probe) sequential average: ${((performance.now() - p0) / 10).toFixed(1)} ms`);
      const p1 = performance.now();
      for (let i = 0; i < 10; i++) await host.putFile('/etc/kubestrap-test/lat.conf', `v${i}\n`, { mode: 0o644, currentSha256: null });
      timings.push(`putFile changed as root, currentSha256 given, sequential average: ${((performance.now() - p1) / 10).toFixed(1)} ms`);
    });

    it('runs 20 commands in parallel without tripping MaxSessions', async () => {
      const before = host.stats.execs;
      const results = await timed('20 parallel runs of sleep 0.2', () => Promise.all(Array.from({ length: 20 }, (_, i) => host.run(`sleep 0.2; echo ${i}`))));
      expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      // Opens refused while sshd frees a just-closed session are retried (and counted).
      timings.push(`  session opens for 20 runs: ${host.stats.execs - before}`);
    });

    it('times out a hung command, kills it on the host, and keeps the connection', async () => {
      const err = await host.run('sleep 47\n', { timeoutMs: 500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SshError);
      expect((err as SshError).message).toBe('command timed out after 500 ms: sleep 47');
      // Closing the channel does not stop it (sshd refuses signals for root sessions); the host's
      // own `timeout` kills it one second after the rounded-up deadline, i.e. 2 s after the start.
      const alive = async () => (await lab.exec(0, 'pgrep -f "^sleep 47$" >/dev/null && echo yes || echo no')).stdout.trim();
      expect(await alive()).toBe('yes');
      await new Promise((r) => setTimeout(r, 2000));
      expect(await alive()).toBe('no');
      expect((await host.run('echo alive')).stdout).toBe('alive\n');
    });
  });

  describe('as sudo users', () => {
    it('ops (NOPASSWD): run really runs as root, putFile installs via one sudo command', async () => {
      const host = await newPool().connect(target(0, 'ops'));
      expect((await timed('one run as ops via sudo -n', () => host.run('id -u'))).stdout).toBe('0\n');
      const file = '/etc/kubestrap-test/ops.conf';
      const before = { ...host.stats };
      expect(await timed('putFile as ops (probe + staging SFTP + sudo install)', () => host.putFile(file, 'from ops\n', { mode: 0o600 }))).toEqual({ written: true });
      timings.push(`  round trips: execs +${host.stats.execs - before.execs}, sftpOps +${host.stats.sftpOps - before.sftpOps}`);
      expect((await lab.run(0, `stat -c '%a %U %G' ${file}; cat ${file}`)).split('\n').slice(0, 2)).toEqual(['600 root root', 'from ops']);
      expect((await lab.run(0, 'ls -a /home/ops | grep -c kubestrap || true')).trim()).toBe('0');
      expect(await host.putFile(file, 'from ops\n', { mode: 0o600 })).toEqual({ written: false });
    });

    it('opspw: sudo password from an env var (sudo -S), and password login', async () => {
      const byKey = await newPool().connect(target(0, 'opspw', { sudoPasswordEnv: 'KS_E2E_OPSPW' }));
      expect((await byKey.run('id -u')).stdout).toBe('0\n');
      const byPassword = await newPool().connect(target(1, 'opspw', { auth: { passwordEnv: 'KS_E2E_OPSPW' }, sudoPasswordEnv: 'KS_E2E_OPSPW' }));
      expect((await byPassword.run('id -un')).stdout).toBe('root\n');
      expect(await byPassword.putFile('/etc/kubestrap-test/opspw.conf', 'pw\n', { mode: 0o644, owner: 'opspw' })).toEqual({ written: true });
      expect((await lab.run(1, `stat -c '%a %U' /etc/kubestrap-test/opspw.conf`)).trim()).toBe('644 opspw');
      const stdinErr = await byPassword.run('cat', { stdin: 'x' }).catch((e: unknown) => e);
      expect((stdinErr as SshError).stage).toBe('sudo');
      expect(JSON.stringify(events)).not.toContain(OPSPW_PASSWORD);
    });

    it('opspw without a password: a clear sudo error saying how to fix it', async () => {
      const host = await newPool().connect(target(0, 'opspw'));
      const err = await host.run('id -u').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SshError);
      expect((err as SshError).stage).toBe('sudo');
      expect((err as SshError).message).toBe('sudo for opspw needs a password');
    });

    it('a wrong sudo password: a clear sudo error that does not show it', async () => {
      process.env.KS_E2E_WRONG = 'definitely-wrong-pw';
      const host = await newPool().connect(target(0, 'opspw', { sudoPasswordEnv: 'KS_E2E_WRONG' }));
      const err = await host.run('id -u').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SshError);
      expect((err as SshError).stage).toBe('sudo');
      expect((err as SshError).message).toBe('sudo rejected the password for opspw');
      expect((err as SshError).format()).not.toContain('definitely-wrong-pw');
    });

    it('sudo with requiretty (old EL sudoers): retried with a pty, and it works', async () => {
      await lab.run(1, `echo 'Defaults:ops requiretty' > /etc/sudoers.d/zz-requiretty; chmod 440 /etc/sudoers.d/zz-requiretty`);
      try {
        const host = await newPool().connect(target(1, 'ops'));
        const res = await host.run('id -u; echo to-stderr >&2');
        expect(res.code).toBe(0);
        expect(res.stdout).toContain('0\n');
        expect(res.stdout).toContain('to-stderr'); // a pty merges the streams
        expect(host.stats.execs).toBe(2);
        expect(await host.putFile('/etc/kubestrap-test/tty.conf', 'tty\n', { mode: 0o644 })).toEqual({ written: true });
        expect(await lab.run(1, 'cat /etc/kubestrap-test/tty.conf')).toBe('tty\n');
      } finally {
        await lab.run(1, 'rm -f /etc/sudoers.d/zz-requiretty');
      }
    });
  });

  describe('host keys and jump hosts', () => {
    it('refuses the lab host with an empty known_hosts, records it with acceptNewHostKeys, then trusts it', async () => {
      const kh = path.join(scratch, 'known_hosts_new');
      await writeFile(kh, '');
      const err = await newPool({ knownHostsFile: kh })
        .connect(target(0))
        .catch((e: unknown) => e);
      expect((err as SshError).stage).toBe('hostkey');
      expect((err as SshError).message).toMatch(/unknown host key for [\d.]+: ssh-ed25519 SHA256:/);
      await newPool({ knownHostsFile: kh, acceptNewHostKeys: true }).connect(target(0));
      const recorded = await readFile(kh, 'utf8');
      expect(recorded).toMatch(new RegExp(`^${lab.host(0).address.replace(/\./g, '\\.')} ssh-ed25519 \\S+\\n$`));
      // The recorded key is the host's real one.
      expect(recorded.split(' ')[2]?.trim()).toBe((await lab.run(0, 'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub')).trim());
      const again = await newPool({ knownHostsFile: kh }).connect(target(0));
      expect((await again.run('true')).code).toBe(0);
    });

    it('knows the host by its ecdsa key only: not mistaken for changed', async () => {
      const kh = path.join(scratch, 'known_hosts_ecdsa');
      await copyFile(lab.lab.knownHosts, kh);
      const onlyEcdsa = (await readFile(kh, 'utf8')).split('\n').filter((l) => l.startsWith(`${lab.host(0).address} ecdsa`));
      expect(onlyEcdsa).toHaveLength(1);
      await writeFile(kh, `${onlyEcdsa[0]}\n`);
      const host = await newPool({ knownHostsFile: kh }).connect(target(0));
      expect((await host.run('true')).code).toBe(0);
    });

    it('refuses a changed key', async () => {
      const kh = path.join(scratch, 'known_hosts_changed');
      const ed = (await readFile(lab.lab.knownHosts, 'utf8')).split('\n').find((l) => l.startsWith(`${lab.host(1).address} ssh-ed25519`));
      // host 0's address with host 1's key: what a reinstalled host (or an impostor) looks like.
      await writeFile(kh, `${ed?.replace(lab.host(1).address, lab.host(0).address)}\n`);
      const err = await newPool({ knownHostsFile: kh, acceptNewHostKeys: true })
        .connect(target(0))
        .catch((e: unknown) => e);
      expect((err as SshError).stage).toBe('hostkey');
      expect((err as SshError).message).toContain('HOST KEY CHANGED');
    });

    it('reaches host B through host A (jump), sharing one jump connection', async () => {
      const p = newPool();
      const jump = { ...target(0), name: `${lab.host(0).name}-jump` };
      const viaJump = await timed('connect through a jump host (jump + target handshakes)', () => p.connect(target(1, 'root', { jump })));
      const res = await viaJump.run('hostname; echo $SSH_CONNECTION');
      const [hostname, conn] = res.stdout.trim().split('\n');
      expect(hostname).toBe(lab.host(1).name);
      // B saw the connection coming from A.
      expect(conn?.split(' ')[0]).toBe(lab.host(0).address);
      const opsViaJump = await p.connect(target(1, 'ops', { name: 'b-as-ops', jump }));
      expect((await opsViaJump.run('id -u')).stdout).toBe('0\n');
      // One connection to the jump host for both targets.
      const jumpConnects = events.filter((e) => e.kind === 'connected' && e.host === jump.name);
      expect(jumpConnects).toHaveLength(1);
    });

    it('stays in budget for a no-op check: connect + one batched run + skipped putFile', async () => {
      const p = newPool();
      const started = performance.now();
      const hosts = await Promise.all([0, 1].map((i) => p.connect(target(i))));
      await Promise.all(hosts.map((h) => h.run('cat /etc/hostname; sha256sum /etc/kubestrap-test/same.conf 2>/dev/null || true')));
      await Promise.all(hosts.map((h) => h.putFile('/etc/kubestrap-test/same.conf', 'other\n', { mode: 0o644, currentSha256: sha('other\n') })));
      const ms = performance.now() - started;
      timings.push(`no-op pass on 2 hosts in parallel (connect + 1 run + skipped put): ${ms.toFixed(1)} ms`);
      // The budget is in round trips; the duration is only reported (a test never asserts a time).
      for (const h of hosts) expect(h.stats).toEqual({ handshakes: 1, execs: 1, sftpOps: 0 });
    });
  });

  it('errors name the host: HostError for a bad owner', async () => {
    const host = await newPool().connect(target(0));
    const err = await host.putFile('/etc/kubestrap-test/x', 'x', { mode: 0o644, owner: 'nobody-here' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).host).toBe(lab.host(0).name);
  });
});
