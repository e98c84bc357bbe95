import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { LockError } from '../../src/errors.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { acquireLock, type Lock, type LockHolder } from '../../src/state/lock.js';
import { useTempDir } from '../support/tmp.js';

function refusal(file: string): LockError {
  try {
    acquireLock(file, 'plan').release();
  } catch (err) {
    if (err instanceof LockError) return err;
    throw err;
  }
  throw new Error('the lock was granted');
}

const holderOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as LockHolder;

/** A process that has exited: its pid names nobody (until the system reuses it). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  return r.pid!;
}

describe('cluster lock', () => {
  const tmp = useTempDir();
  const file = () => join(tmp(), 'lock');
  const locks: Lock[] = [];
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const l of locks.splice(0)) l.release();
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const acquire = (command = 'apply') => {
    const lock = acquireLock(file(), command);
    locks.push(lock);
    return lock;
  };

  it('writes its holder into the lock file, leaves no temp file, and removes the file on release', () => {
    const lock = acquire('apply --phase os');
    expect(lock.file).toBe(file());
    const holder = holderOf(file());
    expect(holder).toMatchObject({ pid: process.pid, host: hostname(), user: userInfo().username, command: 'apply --phase os' });
    expect(Date.now() - Date.parse(holder.startedAt)).toBeLessThan(60_000);
    expect(readdirSync(tmp())).toEqual(['lock']);
    lock.release();
    expect(existsSync(file())).toBe(false);
    lock.release();
  });

  it('refuses a second run in the same process, naming pid, command, user and host', () => {
    acquire('apply');
    const err = refusal(file());
    expect(err.message).toMatch(new RegExp(`^the cluster is locked by pid ${process.pid} \\(apply, user ${userInfo().username} on ${hostname()}, since \\d{4}-`));
    expect(err.where()).toBe(file());
    expect(err.hint).toBe('wait for it to finish, or stop it; a lock left by a process that died is taken over automatically');
    expect(holderOf(file()).command).toBe('apply');
    expect(readdirSync(tmp())).toEqual(['lock']);
  });

  it('takes over a lock left by a process that died', () => {
    const dead: LockHolder = { pid: deadPid(), host: hostname(), user: 'someone', command: 'apply', startedAt: '2020-01-01T00:00:00.000Z' };
    writeFileSync(file(), `${JSON.stringify(dead)}\n`);
    acquire('plan');
    expect(holderOf(file())).toMatchObject({ pid: process.pid, command: 'plan' });
  });

  it("lets exactly one of 8 processes racing on a dead holder's lock take it over, round after round", async () => {
    // Each racer loads the lock code, says it is ready, spins until "go", tries once, reports, and
    // keeps what it won until told to exit (so a second winner could not be a later, legal one).
    // Bundled to plain JavaScript, so eight processes start in moments rather than eight tsx compiles.
    const source = join(tmp(), 'racer.ts');
    const racer = join(tmp(), 'racer.mjs');
    writeFileSync(
      source,
      `import { existsSync } from 'node:fs';\n` +
        `import { acquireLock } from ${JSON.stringify(join(PACKAGE_ROOT, 'src/state/lock.ts'))};\n` +
        `const [lock, go] = process.argv.slice(2) as [string, string];\n` +
        `console.log('ready');\n` +
        `while (!existsSync(go)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);\n` +
        `try { acquireLock(lock, 'race'); console.log('won'); } catch (e) { console.log((e as Error).name); }\n` +
        `process.stdin.resume(); process.stdin.on('end', () => process.exit(0));\n`,
    );
    buildSync({ entryPoints: [source], outfile: racer, bundle: true, platform: 'node', format: 'esm', logLevel: 'error' });
    for (let round = 0; round < 3; round++) {
      const dead: LockHolder = { pid: deadPid(), host: hostname(), user: 'gone', command: 'apply', startedAt: '2020-01-01T00:00:00.000Z' };
      writeFileSync(file(), `${JSON.stringify(dead)}\n`);
      const go = join(tmp(), `go-${round}`);
      const racers = Array.from({ length: 8 }, () => {
        const child = spawn(process.execPath, [racer, file(), go], { stdio: ['pipe', 'pipe', 'inherit'] });
        children.push(child);
        const lines: string[] = [];
        const said = (what: string) =>
          new Promise<void>((resolve, reject) => {
            const check = () => lines.some((l) => l === what || (what === 'done' && (l === 'won' || l === 'LockError'))) && resolve();
            child.stdout!.on('data', (d: Buffer) => {
              lines.push(...d.toString().split('\n').filter(Boolean));
              check();
            });
            child.once('exit', (code) => reject(new Error(`racer exited ${code}: ${lines.join(' ')}`)));
            check();
          });
        return { child, lines, ready: said('ready'), done: said('done') };
      });
      await Promise.all(racers.map((r) => r.ready));
      writeFileSync(go, '');
      await Promise.all(racers.map((r) => r.done));
      const outcomes = racers.map((r) => r.lines.at(-1));
      expect(
        outcomes.filter((o) => o === 'won'),
        `round ${round}: ${outcomes.join(', ')}`,
      ).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'LockError')).toHaveLength(7);
      const winner = racers.find((r) => r.lines.at(-1) === 'won')!;
      expect(holderOf(file()).pid).toBe(winner.child.pid);
      expect(readdirSync(tmp()).filter((n) => n.startsWith('lock.'))).toEqual([]); // no claim, no aside file left
      await Promise.all(racers.map((r) => new Promise((resolve) => (r.child.once('exit', resolve), r.child.stdin!.end()))));
      expect(existsSync(file())).toBe(false);
    }
  }, 60_000);

  it('refuses a lock held on another machine even if the pid means nothing here, and says how to clear it', () => {
    writeFileSync(file(), JSON.stringify({ pid: deadPid(), host: 'laptop-of-someone', user: 'ops', command: 'apply', startedAt: '2020-01-01T00:00:00.000Z' }));
    const err = refusal(file());
    expect(err.message).toContain('user ops on laptop-of-someone');
    expect(err.hint).toBe(`wait for it to finish; if that run is gone, remove ${file()}`);
  });

  it('refuses an unreadable lock file while it is fresh, and takes it over once it is old', () => {
    writeFileSync(file(), '{"pid": 12');
    expect(refusal(file()).message).toBe('the cluster is locked by another run (its lock file is unreadable)');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file(), old, old);
    acquire();
    expect(holderOf(file()).pid).toBe(process.pid);
  });

  it('does not remove a lock file that another run holds now', () => {
    const lock = acquire();
    const other: LockHolder = { pid: process.ppid, host: hostname(), user: 'other', command: 'apply', startedAt: new Date().toISOString() };
    writeFileSync(file(), JSON.stringify(other));
    lock.release();
    expect(holderOf(file())).toEqual(other);
  });

  it('refuses a lock that a live process holds, and takes it over once that process is killed', async () => {
    const script = join(tmp(), 'holder.ts');
    writeFileSync(
      script,
      `import { acquireLock } from ${JSON.stringify(pathToFileURL(join(PACKAGE_ROOT, 'src/state/lock.ts')).href)};\n` +
        `acquireLock(process.argv[2]!, 'apply (child)');\nconsole.log('locked');\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, file()], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('locked')) resolve();
      });
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => reject(new Error(`holder exited with ${code}: ${err}`)));
    });

    const err = refusal(file());
    expect(err.message).toContain(`locked by pid ${child.pid} (apply (child), user ${userInfo().username} on ${hostname()}`);
    expect(holderOf(file()).pid).toBe(child.pid);

    // SIGKILL: no exit handler runs, the file stays behind with a dead pid.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(holderOf(file()).pid).toBe(child.pid);
    acquire();
    expect(holderOf(file()).pid).toBe(process.pid);
  });
});
