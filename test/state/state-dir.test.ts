import { chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateError } from '../../src/errors.js';
import { openStateDir } from '../../src/state/state-dir.js';
import { runCli } from '../support/cli.js';
import { refusal } from '../support/refusal.js';
import { useTempDir } from '../support/tmp.js';

const isRoot = process.getuid?.() === 0;

const refused = (run: () => unknown): StateError => refusal(StateError, run, 'the state folder');

describe('state folder', () => {
  const tmp = useTempDir();

  it('is created private (0700), logs folder included', () => {
    const root = join(tmp(), '.kubestrap', 'c1');
    const state = openStateDir(root);
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(statSync(state.logsDir).mode & 0o777).toBe(0o700);
    expect(state.lockFile).toBe(join(root, 'lock'));
  });

  it.each([
    ['a group-writable state folder', (root: string) => chmodSync(root, 0o770), '', 'its group (mode 0770)'],
    ['a world-writable logs folder', (root: string) => chmodSync(join(root, 'logs'), 0o757), '/logs', 'others (mode 0757)'],
    ['a group-writable known_hosts', (root: string) => (writeFileSync(join(root, 'known_hosts'), ''), chmodSync(join(root, 'known_hosts'), 0o664)), '/known_hosts', 'its group (mode 0664)'],
  ])('refuses %s, as OpenSSH StrictModes would, with the chmod that fixes it', (_what, spoil, suffix, who) => {
    const root = join(tmp(), 'state');
    openStateDir(root);
    spoil(root);
    const err = refused(() => openStateDir(root));
    expect(err.where()).toBe(`${root}${suffix}`);
    expect(err.message).toContain(`is writable by ${who}: whoever can write it could plant host keys or take the lock`);
    expect(err.hint).toBe(`chmod go-w ${root}${suffix}`);
  });

  it('checks a known_hosts kept elsewhere, and its folder', () => {
    const shared = join(tmp(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const err = refused(() => openStateDir(join(tmp(), 'state'), join(shared, 'known_hosts')));
    expect(err.where()).toBe(shared);
  });

  it.skipIf(!isRoot)('refuses a state folder that belongs to another user', () => {
    const root = join(tmp(), 'state');
    openStateDir(root);
    chownSync(root, 4321, 4321);
    expect(refused(() => openStateDir(root)).message).toContain('belongs to uid 4321, not to you (uid 0) or root');
  });

  it('plan exits 2 before any connection, naming the folder and the fix', async () => {
    const dir = tmp();
    const inventory = join(dir, 'inventory.yaml');
    writeFileSync(inventory, 'cluster: c1\nssh: { agent: false, passwordEnv: KS_NEVER_SET }\nhosts:\n  - { name: n1, address: 127.0.0.1, roles: [etcd, master, worker] }\n');
    writeFileSync(join(dir, 'config.properties'), '');
    mkdirSync(join(dir, '.kubestrap', 'c1'), { recursive: true });
    chmodSync(join(dir, '.kubestrap', 'c1'), 0o777);
    const run = await runCli(['plan', '-i', inventory, '-c', join(dir, 'config.properties')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${join(dir, '.kubestrap', 'c1')}: this folder is writable by its group (mode 0777)`);
    expect(run.stderr).toContain(`fix: chmod go-w ${join(dir, '.kubestrap', 'c1')}`);
    expect(existsSync(join(dir, '.kubestrap', 'c1', 'lock'))).toBe(false);
  });
});
