import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SshConfig } from '../../src/config/ssh-config.js';
import { SshConfigError } from '../../src/errors.js';
import { useTempDir, writeTree } from '../support/tmp.js';

describe('ssh_config', () => {
  const tmp = useTempDir();

  /** A home folder holding `files` (the user's config is `.ssh/config`). */
  function home(files: Record<string, string>): string {
    writeTree(tmp(), files);
    return tmp();
  }

  const user = (files: Record<string, string>) => SshConfig.read({ kind: 'user' }, home(files));

  it('takes the first value of each option across the Host blocks that match the alias, in file order', () => {
    const config = user({
      '.ssh/config': ['Host lab1', '  HostName 10.0.0.11', '  User ops', 'Host lab*', '  User other', '  Port 2222', 'Host *', '  HostName 10.9.9.9', '  IdentitiesOnly yes', ''].join('\n'),
    });
    expect(config.lookup('lab1')).toMatchObject({ hostName: '10.0.0.11', user: 'ops', port: 2222, identitiesOnly: true });
    expect(config.lookup('lab2')).toMatchObject({ hostName: '10.9.9.9', user: 'other', port: 2222 });
    expect(config.lookup('elsewhere')).toEqual({ hostName: '10.9.9.9', identitiesOnly: true, identityFiles: [], proxyJump: [] });
  });

  it('matches Host patterns as OpenSSH does: several per line, wildcards, a negation that excludes', () => {
    const config = user({ '.ssh/config': 'Host web? db-* !db-old\n  User app\nhost=other\n  user root\n' });
    expect(config.lookup('web1').user).toBe('app');
    expect(config.lookup('db-new').user).toBe('app');
    expect(config.lookup('db-old').user).toBeUndefined();
    expect(config.lookup('other').user).toBe('root');
  });

  it('collects every IdentityFile, with ~ and tokens expanded, leaving out files that do not exist (as OpenSSH does)', () => {
    const dir = home({ '.ssh/id_lab': 'key', '.ssh/lab1.key': 'key' });
    const config = user({ '.ssh/config': 'Host lab1\n  IdentityFile ~/.ssh/id_lab\n  IdentityFile %d/.ssh/%n.key\n  IdentityFile ~/.ssh/missing\n' });
    expect(config.lookup('lab1').identityFiles).toEqual([join(dir, '.ssh/id_lab'), join(dir, '.ssh/lab1.key')]);
  });

  it("expands %r and %p in IdentityFile to the user and port in effect: the inventory's, else ssh_config's, else root and 22", () => {
    const dir = home({ '.ssh/id_root_22': 'key', '.ssh/id_ops_2222': 'key', '.ssh/id_deploy_2200': 'key' });
    const config = user({ '.ssh/config': 'Host lab1\n  User ops\n  Port 2222\nHost *\n  IdentityFile ~/.ssh/id_%r_%p\n' });
    expect(config.lookup('lab2').identityFiles).toEqual([join(dir, '.ssh/id_root_22')]);
    expect(config.lookup('lab1').identityFiles).toEqual([join(dir, '.ssh/id_ops_2222')]);
    expect(config.lookup('lab1', { user: 'deploy', port: 2200 }).identityFiles).toEqual([join(dir, '.ssh/id_deploy_2200')]);
  });

  it('expands ${NAME} in IdentityFile from the environment, as OpenSSH does, and refuses a variable that is not set', () => {
    const dir = home({ 'keys/id_lab': 'key' });
    vi.stubEnv('KUBESTRAP_TEST_KEYS', join(dir, 'keys'));
    vi.stubEnv('KUBESTRAP_TEST_UNSET', undefined);
    try {
      const config = user({ '.ssh/config': 'Host lab1\n  IdentityFile ${KUBESTRAP_TEST_KEYS}/id_lab\nHost lab2\n  IdentityFile ${KUBESTRAP_TEST_UNSET}/id_lab\n' });
      expect(config.lookup('lab1').identityFiles).toEqual([join(dir, 'keys/id_lab')]);
      expect(() => config.lookup('lab2')).toThrow(/KUBESTRAP_TEST_UNSET.* is not set/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('expands %h in HostName to the alias', () => {
    expect(user({ '.ssh/config': 'Host *.lab\n  HostName %h.example.org\n' }).lookup('n1.lab').hostName).toBe('n1.lab.example.org');
  });

  it('refuses a token it does not know instead of connecting to a path with a % in it', () => {
    const config = user({ '.ssh/config': 'Host lab1\n  HostName %C\n' });
    expect(() => config.lookup('lab1')).toThrow(SshConfigError);
  });

  it('reads ProxyJump hops with their user and port; none means none', () => {
    const config = user({ '.ssh/config': 'Host a\n  ProxyJump ops@bastion:2200\nHost b\n  ProxyJump j1,ssh://j2\nHost c\n  ProxyJump none\nHost *\n  ProxyJump other\n' });
    expect(config.lookup('a').proxyJump).toEqual([{ host: 'bastion', user: 'ops', port: 2200 }]);
    expect(config.lookup('b').proxyJump).toEqual([{ host: 'j1' }, { host: 'j2' }]);
    expect(config.lookup('c').proxyJump).toEqual([]);
  });

  it('takes the user of a ProxyJump hop up to its last @, as OpenSSH does, for domain logins', () => {
    const config = user({ '.ssh/config': 'Host a\n  ProxyJump alice@corp.example@bastion:2200\n' });
    expect(config.lookup('a').proxyJump).toEqual([{ host: 'bastion', user: 'alice@corp.example', port: 2200 }]);
  });

  it('takes ProxyJump and ProxyCommand as one setting, as OpenSSH does: the first of them obtained wins', () => {
    const config = user({ '.ssh/config': 'Host bastion\n  ProxyCommand none\nHost direct\n  ProxyJump none\nHost *\n  ProxyCommand nc %h %p\n  ProxyJump bastion\n' });
    expect(config.lookup('bastion')).toMatchObject({ proxyJump: [] });
    expect(config.lookup('bastion').proxyCommand).toBeUndefined();
    expect(config.lookup('direct')).toMatchObject({ proxyJump: [] });
    expect(config.lookup('direct').proxyCommand).toBeUndefined();
    expect(config.lookup('lab1')).toMatchObject({ proxyJump: [], proxyCommand: 'nc %h %p' });
  });

  it('follows Include in place: globs in order, paths relative to ~/.ssh, absolute paths, a pattern that matches nothing skipped', () => {
    const dir = home({
      '.ssh/config.d/20-lab.conf': 'Host lab1\n  User second\n  Port 2201\n',
      '.ssh/config.d/10-lab.conf': 'Host lab1\n  User first\n',
      'elsewhere/extra': 'Host lab1\n  HostName 10.0.0.11\n',
    });
    const config = user({ '.ssh/config': `Include config.d/*.conf\nInclude ${join(dir, 'elsewhere/extra')} nothing/*.conf\nHost lab1\n  User last\n` });
    expect(config.lookup('lab1')).toMatchObject({ user: 'first', port: 2201, hostName: '10.0.0.11' });
    expect(config.files.map((f) => f.slice(dir.length))).toEqual(['/.ssh/config', '/.ssh/config.d/10-lab.conf', '/.ssh/config.d/20-lab.conf', '/elsewhere/extra']);
  });

  it('applies an Include inside a Host block only when that block matches', () => {
    const config = user({ '.ssh/config': 'Host lab*\n  Include lab.conf\n', '.ssh/lab.conf': 'User ops\nHost lab2\n  Port 2202\n' });
    expect(config.lookup('lab1')).toMatchObject({ user: 'ops' });
    expect(config.lookup('lab1').port).toBeUndefined();
    expect(config.lookup('lab2')).toMatchObject({ user: 'ops', port: 2202 });
    expect(config.lookup('other').user).toBeUndefined();
  });

  it('refuses an Include that leads back to itself', () => {
    expect(() => user({ '.ssh/config': 'Include config\n' })).toThrow(/Include nested deeper than 16/);
  });

  it('skips Match blocks with a warning that names the file, and runs none of their commands', () => {
    const marker = join(tmp(), 'ran');
    const config = user({ '.ssh/config': `Match exec "touch ${marker}"\n  User matched\nHost lab1\n  User ops\n` });
    expect(config.lookup('lab1').user).toBe('ops');
    expect(config.warnings).toEqual([expect.objectContaining({ where: expect.stringMatching(/\.ssh\/config Match exec/), message: expect.stringMatching(/not supported and are ignored/) })]);
    expect(existsSync(marker)).toBe(false);
  });

  it('reads the file given with -F instead of ~/.ssh/config, and says when it does not exist', () => {
    const dir = home({ '.ssh/config': 'Host lab1\n  User fromhome\n', 'given.conf': 'Host lab1\n  User given\n' });
    expect(SshConfig.read({ kind: 'file', path: join(dir, 'given.conf') }, dir).lookup('lab1').user).toBe('given');
    expect(() => SshConfig.read({ kind: 'file', path: join(dir, 'nope.conf') }, dir)).toThrow(/given with -F does not exist/);
  });

  it('reads nothing with --no-ssh-config, or when ~/.ssh/config does not exist', () => {
    const dir = home({ '.ssh/config': 'Host *\n  User ops\n' });
    expect(SshConfig.read({ kind: 'none' }, dir).lookup('lab1')).toEqual({ identityFiles: [], proxyJump: [] });
    expect(SshConfig.read({ kind: 'user' }, join(dir, 'nobody')).lookup('lab1')).toEqual({ identityFiles: [], proxyJump: [] });
  });

  it('reads IdentitiesOnly as OpenSSH reads a flag: yes or true, no or false, in any case; anything else is refused', () => {
    const config = user({ '.ssh/config': 'Host a\n  IdentitiesOnly True\nHost b\n  IdentitiesOnly false\nHost c\n  IdentitiesOnly always\n' });
    expect(config.lookup('a').identitiesOnly).toBe(true);
    expect(config.lookup('b').identitiesOnly).toBe(false);
    expect(() => config.lookup('c')).toThrow(/IdentitiesOnly "always" is not yes or no/);
  });

  it('refuses a Port that is not a port number, naming the file', () => {
    const config = user({ '.ssh/config': 'Host lab1\n  Port ssh\n' });
    expect(() => config.lookup('lab1')).toThrow(/Port "ssh" is not a port number/);
  });
});
