import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { askCluster, confirmOverwrite, writeAnswers, type PromptStreams, type WizardAnswers } from '../../src/cli/wizard.js';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { useTempDir } from '../support/tmp.js';

const ENTER = '\r';
const DOWN = '\u001b[B';
const _SPACE = ' ';

/**
 * A terminal session with the real prompts: keystrokes go in one answer at a time, each after the
 * prompt that reads it is on screen; everything the prompts print is kept.
 */
function terminal(): PromptStreams & { screen(): string; type(...keys: string[]): Promise<void> } {
  const input = new PassThrough();
  const output = new PassThrough();
  // A terminal outlives each prompt: the prompts end their output stream when done, a tty ignores that.
  output.end = (() => output) as typeof output.end;
  let screen = '';
  output.on('data', (d: Buffer) => (screen += d.toString()));
  let seen = 0;
  return {
    input,
    output,
    screen: () => screen,
    async type(...keys: string[]) {
      // Wait for a new prompt to be drawn, then answer it.
      for (let i = 0; i < 200 && screen.length === seen; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 20));
      seen = screen.length;
      for (const k of keys) input.write(k);
    },
  };
}

describe('the init wizard', () => {
  const tmp = useTempDir();

  it("asks for hosts, roles, login, version and networks, refuses bad answers with the config checks' words, and writes files apply accepts", async () => {
    const key = join(tmp(), 'id_ed25519');
    await import('node:fs').then((fs) => fs.writeFileSync(key, 'not really a key\n'));
    const t = terminal();
    const answers = askCluster(t, ['v1.33.10', 'v1.32.9']);
    await t.type('lab', ENTER);
    await t.type('10.0.0.300', ENTER); // refused: not an address
    await t.type('\u0008\u0008\u0008\u0008\u0008\u0008\u0008\u0008\u0008\u0008', '10.0.0.11', ENTER);
    await t.type(ENTER); // name: node1
    await t.type(ENTER); // roles: etcd, master, worker (the default for the first host)
    await t.type('10.0.0.12', ENTER);
    await t.type('w1', ENTER);
    await t.type(ENTER); // roles: worker
    await t.type(ENTER); // done with hosts
    await t.type(ENTER); // ssh user root
    await t.type('\u0015', key, ENTER); // ctrl-u clears the default key path
    await t.type(DOWN, ENTER); // the second version offered
    await t.type('\u0015', '10.0.0.0/16', ENTER); // refused: holds the hosts
    await t.type('\u0015', '10.96.0.0/16', ENTER);
    await t.type('\u0015', '10.96.0.0/12', ENTER); // refused: overlaps SERVICE_CIDR
    await t.type('\u0015', ENTER); // CLUSTER_CIDR: the default
    const a = await Promise.race([
      answers,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new Error(
                `the wizard did not finish; screen:\n${t
                  .screen()
                  .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
                  .slice(-1500)}`,
              ),
            ),
          5_000,
        ),
      ),
    ]);
    expect(t.screen()).toContain('"10.0.0.300" is a name, but the cluster needs this host\'s IP');
    expect(t.screen()).toMatch(/10\.0\.0\.0\/16 contains host node1's address 10\.0\.0\.11/);
    expect(t.screen()).toMatch(/overlap/);
    expect(a).toMatchObject({
      cluster: 'lab',
      sshUser: 'root',
      keyFile: key,
      hosts: [
        { name: 'node1', address: '10.0.0.11', roles: ['etcd', 'master', 'worker'] },
        { name: 'w1', address: '10.0.0.12', roles: ['worker'] },
      ],
      properties: { KUBE_VERSION: 'v1.32.9', SERVICE_CIDR: '10.96.0.0/16', CLUSTER_DNS_SVC_IP: '10.96.0.2' },
    });

    const inventoryFile = join(tmp(), 'inventory.yaml');
    const configFile = join(tmp(), 'config.properties');
    writeAnswers(a, inventoryFile, configFile);
    const spec = loadClusterSpec({ inventoryFile, configFile });
    expect(spec.hosts.map((h) => [h.name, h.roles])).toEqual([
      ['node1', ['etcd', 'master', 'worker']],
      ['w1', ['worker']],
    ]);
    expect(readFileSync(configFile, 'utf8')).toContain('SERVICE_CIDR=10.96.0.0/16\n');
    expect(existsSync(inventoryFile)).toBe(true);
  });

  describe('writing the files', () => {
    function answers(): WizardAnswers {
      const key = join(tmp(), 'id_ed25519');
      writeFileSync(key, 'not really a key\n');
      return { cluster: 'lab', hosts: [{ name: 'node1', address: '10.0.0.11', roles: ['etcd', 'master', 'worker'] }], sshUser: 'root', keyFile: key, properties: {} };
    }

    it('counts a link where a file goes as there, dangling or not, and asks before replacing it', async () => {
      const dir = tmp();
      writeFileSync(join(dir, 'bashrc'), 'mine\n');
      symlinkSync(join(dir, 'bashrc'), join(dir, 'inventory.yaml'));
      symlinkSync(join(dir, 'nowhere-yet'), join(dir, 'config.properties'));
      const t = terminal();
      const asked = confirmOverwrite(t, [join(dir, 'inventory.yaml'), join(dir, 'config.properties')]);
      await t.type('n', ENTER);
      expect(await asked).toBe(false);
      expect(
        t
          .screen()
          .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
          .replace(/\s+/g, ' '),
      ).toContain(`Overwrite ${join(dir, 'inventory.yaml')} and ${join(dir, 'config.properties')}?`);
    });

    it('replaces a link where a file goes, never writing through it', () => {
      const a = answers();
      const dir = tmp();
      writeFileSync(join(dir, 'bashrc'), 'mine\n');
      const inventoryFile = join(dir, 'inventory.yaml');
      const configFile = join(dir, 'config.properties');
      symlinkSync(join(dir, 'bashrc'), inventoryFile);
      symlinkSync(join(dir, 'nowhere-yet'), configFile);
      writeAnswers(a, inventoryFile, configFile);
      expect(readFileSync(join(dir, 'bashrc'), 'utf8')).toBe('mine\n');
      expect(existsSync(join(dir, 'nowhere-yet'))).toBe(false);
      expect([lstatSync(inventoryFile).isFile(), lstatSync(configFile).isFile()]).toEqual([true, true]);
      expect(loadClusterSpec({ inventoryFile, configFile }).hosts.map((h) => h.name)).toEqual(['node1']);
    });

    it('refuses a folder that is a link', () => {
      const a = answers();
      const dir = tmp();
      mkdirSync(join(dir, 'elsewhere'));
      symlinkSync(join(dir, 'elsewhere'), join(dir, 'linked'));
      expect(() => writeAnswers(a, join(dir, 'linked', 'inventory.yaml'), join(dir, 'config.properties'))).toThrow(
        `${join(dir, 'linked')} is a symbolic link; init writes ${join(dir, 'linked', 'inventory.yaml')} only into a real folder`,
      );
      expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
    });
  });
});
