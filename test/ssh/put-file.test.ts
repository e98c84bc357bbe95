import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { formatKnownHostsLine } from '../../src/ssh/known-hosts.js';
import { installScript, parseProbe } from '../../src/ssh/put-file.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { clientKeyFile, keyPair, pool, target, tempDir } from './support/fixtures.js';
import { skipUnlessAvailable } from '../support/prerequisites.js';
import { sftpServerPath, startTestServer, type TestServer } from './support/test-server.js';

/**
 * putFile against OpenSSH's real sftp-server (behind the in-process SSH server). The test process
 * plays the host, so paths are in a temp dir; owner changes need the tests to run as root.
 */

const isRoot = process.getuid?.() === 0;
const noSftpServer = skipUnlessAvailable(sftpServerPath !== undefined, "OpenSSH's sftp-server (apt-get install openssh-sftp-server)");
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let dir: string;
let root: string;
let server: TestServer;

async function connect(user: 'root' | 'ops'): Promise<RemoteHost> {
  const hostKey = keyPair('ed25519');
  const client = await clientKeyFile(dir);
  server = await startTestServer({ hostKeys: [hostKey.private], users: { [user]: { publicKey: client.pair.public, sudo: 'nopasswd' } } });
  const knownHosts = path.join(dir, 'known_hosts');
  await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', server.port, hostKey.blob)}\n`);
  return pool({ knownHostsFile: knownHosts }).pool.connect(target(server.port, { user, auth: { keyFile: client.file } }));
}

async function leftovers(d: string): Promise<string[]> {
  return (await readdir(d)).filter((n) => n.includes('kubestrap'));
}

beforeEach(async () => {
  dir = await tempDir();
  root = path.join(dir, 'fs');
  await mkdir(root);
});
afterEach(async () => {
  await server?.stop();
});

describe.skipIf(noSftpServer)('putFile as root (SFTP)', () => {
  it('writes content and mode, creating missing parents 0755, leaving no temp file', async () => {
    const host = await connect('root');
    const file = path.join(root, 'etc', 'kubernetes', 'admin.conf');
    expect(await host.putFile(file, 'apiVersion: v1\n', { mode: 0o600 })).toEqual({ written: true });
    expect(await readFile(file, 'utf8')).toBe('apiVersion: v1\n');
    expect((await stat(file)).mode & 0o7777).toBe(0o600);
    expect((await stat(path.join(root, 'etc'))).mode & 0o7777).toBe(0o755);
    expect(await leftovers(path.dirname(file))).toEqual([]);
    // probe exec; SFTP: session, open (no dir), mkdir x3 walking up + 2 back down... counted exactly:
    // open fails, mkdir kubernetes fails, mkdir etc, mkdir kubernetes, open, write, fsetstat, close, rename.
    expect(host.stats).toEqual({ handshakes: 1, execs: 1, sftpOps: 1 + 9 });
  });

  it('skips identical content: one probe exec when asked, nothing at all when currentSha256 is given', async () => {
    const host = await connect('root');
    const file = path.join(root, 'a.txt');
    await host.putFile(file, 'same', { mode: 0o644 });
    const before = { ...host.stats };
    expect(await host.putFile(file, 'same', { mode: 0o644 })).toEqual({ written: false });
    expect(host.stats).toEqual({ ...before, execs: before.execs + 1 });
    expect(await host.putFile(file, 'same', { mode: 0o644, currentSha256: sha('same') })).toEqual({ written: false });
    expect(host.stats).toEqual({ ...before, execs: before.execs + 1 });
  });

  it('with currentSha256 null writes without asking the host (no exec): 5 SFTP requests', async () => {
    const host = await connect('root');
    const file = path.join(root, 'new.txt');
    expect(await host.putFile(file, 'x', { mode: 0o640, currentSha256: null })).toEqual({ written: true });
    // session + open, write, fsetstat(mode), close, rename
    expect(host.stats).toEqual({ handshakes: 1, execs: 0, sftpOps: 6 });
    expect((await stat(file)).mode & 0o7777).toBe(0o640);
  });

  it('replaces an existing file atomically (new inode) and rewrites when only the mode differs', async () => {
    const host = await connect('root');
    const file = path.join(root, 'b.txt');
    await writeFile(file, 'old', { mode: 0o644 });
    const oldIno = (await stat(file)).ino;
    expect(await host.putFile(file, 'new', { mode: 0o644 })).toEqual({ written: true });
    expect((await stat(file)).ino).not.toBe(oldIno);
    expect(await host.putFile(file, 'new', { mode: 0o600 })).toEqual({ written: true });
    expect((await stat(file)).mode & 0o7777).toBe(0o600);
    expect(await leftovers(root)).toEqual([]);
  });

  it('writes binary content larger than one SFTP request intact', async () => {
    const host = await connect('root');
    const data = randomBytes(100 * 1024 + 17);
    const file = path.join(root, 'blob.bin');
    await host.putFile(file, data, { mode: 0o755, currentSha256: null });
    expect(sha(await readFile(file))).toBe(sha(data));
    expect(host.stats.sftpOps).toBe(1 + 1 + 4 + 3); // session, open, 4 writes of 32 KiB, fsetstat, close, rename
  });

  it.skipIf(!isRoot)('sets owner and group, by name and by number (chown before chmod keeps setgid)', async () => {
    const host = await connect('root');
    const named = path.join(root, 'named');
    await host.putFile(named, 'n', { mode: 0o2750, owner: 'daemon', group: 'daemon' });
    const s = await stat(named);
    expect([s.uid, s.gid, s.mode & 0o7777]).toEqual([1, 1, 0o2750]);
    const numeric = path.join(root, 'numeric');
    await host.putFile(numeric, 'n', { mode: 0o640, owner: '4321', currentSha256: null });
    const t = await stat(numeric);
    expect([t.uid, t.gid]).toEqual([4321, 0]); // group unchanged
    // Same content and mode but another owner: rewritten.
    expect(await host.putFile(numeric, 'n', { mode: 0o640, owner: '4322' })).toEqual({ written: true });
    expect((await stat(numeric)).uid).toBe(4322);
  });

  it('refuses an unknown owner and a directory target without writing anything', async () => {
    const host = await connect('root');
    const file = path.join(root, 'c.txt');
    const err = await host.putFile(file, 'c', { mode: 0o644, owner: 'no-such-user-ks' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).message).toBe('user no-such-user-ks does not exist on the host');
    const dirErr = await host.putFile(root, 'c', { mode: 0o644 }).catch((e: unknown) => e);
    expect((dirErr as HostError).message).toContain('is not a regular file');
    expect(await readdir(root)).toEqual([]);
  });
});

describe.skipIf(noSftpServer)('putFile as a sudo user (staging + one sudo install)', () => {
  it('stages in the home dir, installs with one sudo command, and cleans the staging file', async () => {
    const host = await connect('ops');
    const file = path.join(root, 'etc', 'conf');
    expect(await host.putFile(file, 'via sudo', { mode: 0o640, currentSha256: null })).toEqual({ written: true });
    expect(await readFile(file, 'utf8')).toBe('via sudo');
    expect((await stat(file)).mode & 0o7777).toBe(0o640);
    expect(await leftovers(server.home)).toEqual([]);
    expect(await leftovers(path.dirname(file))).toEqual([]);
    expect(server.commands.some((c) => c.startsWith('sudo -n sh -c'))).toBe(true);
    // session, realpath(home), open, write, close; one exec to install
    expect(host.stats).toEqual({ handshakes: 1, execs: 1, sftpOps: 5 });
    expect(await host.putFile(file, 'via sudo', { mode: 0o640 })).toEqual({ written: false });
    expect(host.stats.execs).toBe(2);
  });

  it('refuses a directory that others may change (the temp could be swapped for a symlink), and allows a sticky one', async () => {
    const host = await connect('ops');
    const shared = path.join(root, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o777);
    const err = await host.putFile(path.join(shared, 'f'), 'x', { mode: 0o644, currentSha256: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).message).toBe(`refusing to install ${shared}/f: ${shared} may be changed by users other than root (owner uid ${process.getuid!()}, mode 777)`);
    expect((err as HostError).hint).toBe(`let only root change ${shared}: chown root ${shared} && chmod go-w ${shared} (or give it the sticky bit, chmod +t, as /tmp has)`);
    expect(await readdir(shared)).toEqual([]);
    expect(await leftovers(server.home)).toEqual([]);
    await chmod(shared, 0o1777);
    expect(await host.putFile(path.join(shared, 'f'), 'x', { mode: 0o644, currentSha256: null })).toEqual({ written: true });
  });

  it('refuses a path with a control character before touching the host, and never puts one in a script line', async () => {
    const host = await connect('ops');
    const evil = path.join(root, 'x\ntouch pwned');
    const err = await host.putFile(evil, 'x', { mode: 0o644, currentSha256: null }).catch((e: unknown) => e);
    expect((err as HostError).message).toContain('without control characters');
    expect(server.commands).toEqual([]);
    expect(installScript('/home/ops/.s', '/etc/x\ntouch /tmp/pwned', { mode: 0o644 }).split('\n')[0]).toBe('# kubestrap: install /etc/x\\x0atouch /tmp/pwned');
  });
});

describe('putFile pieces', () => {
  it('parses the probe output', () => {
    expect(parseProbe('sha abc\nstat 644 0 0\nuid 1000\ngid 100\n')).toEqual({ sha256: 'abc', mode: 0o644, uid: 0, gid: 0, wantUid: 1000, wantGid: 100 });
    expect(parseProbe('absent\nuid \n')).toEqual({ sha256: null });
    expect(parseProbe('notfile\n')).toBe('notfile');
  });

  it('builds an install script that quotes every path and never follows a directory target', () => {
    const s = installScript("/home/o p/.stage'1", "/etc/it's here/f", { mode: 0o600, owner: 'root', group: 'adm' });
    expect(s).toContain(`src='/home/o p/.stage'\\''1'`);
    expect(s).toContain(`dir='/etc/it'\\''s here'`);
    expect(s).toContain(`chown -- root:adm "$tmp"`);
    expect(s).toContain('chmod -- 0600 "$tmp"');
    expect(s.indexOf('chown')).toBeLessThan(s.indexOf('chmod'));
    expect(s).toContain('if [ -d "$dst" ]');
  });
});
