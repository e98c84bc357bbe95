import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import type { SshConfigSource } from '../../src/config/ssh-config.js';
import { InvalidInputError } from '../../src/errors.js';
import { useTempDir, writeTree } from '../support/tmp.js';

/** Inventories that name hosts by SSH alias, read with an ssh_config given as with -F. */
const ALIASES = `cluster: lab
hosts:
  - { name: lab1, roles: [etcd, master, worker] }
  - { name: lab2, roles: [worker] }
`;

const SSH_CONFIG = `Host lab1
  HostName 10.0.0.11
  User ops
  Port 2222
  IdentityFile TMP/keys/lab
Host lab2
  HostName 10.0.0.12
  ProxyJump lab1
Host lab*
  User fallback
  IdentitiesOnly yes
`;

describe('SSH targets from ssh_config', () => {
  const tmp = useTempDir();

  function load(inventory: string, sshConfig = SSH_CONFIG, source?: SshConfigSource) {
    writeTree(tmp(), { 'inventory.yaml': inventory, 'config.properties': '', ssh_config: sshConfig.replaceAll('TMP', tmp()), 'keys/lab': 'a key' });
    return loadClusterSpec({ inventoryFile: join(tmp(), 'inventory.yaml'), configFile: join(tmp(), 'config.properties'), sshConfig: source ?? { kind: 'file', path: join(tmp(), 'ssh_config') } });
  }

  function problems(inventory: string, sshConfig = SSH_CONFIG, source?: SshConfigSource): string[] {
    try {
      load(inventory, sshConfig, source);
    } catch (err) {
      if (err instanceof InvalidInputError) return err.problems.map((p) => p.format().replaceAll(tmp(), '<tmp>'));
      throw err;
    }
    return [];
  }

  it('takes the address of a host named by its alias from HostName; the alias stays its name and NODE_IP is that address', () => {
    const [lab1, lab2] = load(ALIASES).hosts;
    expect(lab1).toMatchObject({ name: 'lab1', address: '10.0.0.11', nodeIp: '10.0.0.11' });
    expect(lab1!.ssh).toMatchObject({ name: 'lab1', address: '10.0.0.11', port: 2222, user: 'ops' });
    expect(lab2!.ssh).toMatchObject({ name: 'lab2', address: '10.0.0.12', port: 22, user: 'fallback' });
    expect(lab2!.values.NODE_IP).toBe('10.0.0.12');
  });

  it('maps ProxyJump onto the jump host, itself looked up in ssh_config (address, port, user, key)', () => {
    const lab2 = load(ALIASES).hosts[1]!;
    expect(lab2.ssh.jump).toEqual({ name: 'jump lab1', address: '10.0.0.11', port: 2222, user: 'ops', auth: { keyFile: join(tmp(), 'keys/lab') } });
    expect(load(ALIASES).hosts[0]!.ssh.jump).toBeUndefined();
  });

  it('uses the IdentityFiles for auth, and no agent under IdentitiesOnly', () => {
    const previous = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = '/run/agent.sock';
    try {
      const [lab1] = load(ALIASES).hosts;
      expect(lab1!.ssh.auth).toEqual({ keyFile: join(tmp(), 'keys/lab') });
      const withAgent = load(ALIASES, SSH_CONFIG.replace('  IdentitiesOnly yes\n', '')).hosts[0]!;
      expect(withAgent.ssh.auth).toEqual({ keyFile: join(tmp(), 'keys/lab'), agent: true });
    } finally {
      if (previous === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = previous;
    }
  });

  it('lets every inventory field win over ssh_config: the host own, then the inventory-wide settings', () => {
    const inventory = `cluster: lab
ssh: { user: admin, keyFile: keys/lab }
hosts:
  - { name: lab1, address: 10.0.0.21, roles: [etcd, master, worker], ssh: { port: 22 } }
  - { name: lab2, roles: [worker], ssh: { user: root, jump: { address: 10.0.0.99 } } }
`;
    const [lab1, lab2] = load(inventory).hosts;
    expect(lab1!.ssh).toMatchObject({ address: '10.0.0.21', port: 22, user: 'admin', auth: { keyFile: join(tmp(), 'keys/lab') } });
    expect(lab2!.ssh).toMatchObject({ address: '10.0.0.12', user: 'root', jump: { name: 'jump 10.0.0.99', address: '10.0.0.99', user: 'root' } });
  });

  it('looks a host up by its inventory address when it has one (Host patterns on addresses apply)', () => {
    const inventory = ALIASES.replace('{ name: lab2, roles', '{ name: lab2, address: 10.0.0.12, roles');
    const lab2 = load(inventory, `${SSH_CONFIG}Host 10.0.0.*\n  Port 2200\n`).hosts[1]!;
    expect(lab2.ssh).toMatchObject({ address: '10.0.0.12', port: 2200 });
    expect(lab2.ssh.jump).toBeUndefined();
  });

  it('refuses an alias-only inventory under --no-ssh-config, naming the host and the fix', () => {
    expect(problems(ALIASES, SSH_CONFIG, { kind: 'none' })).toEqual([
      '<tmp>/inventory.yaml:3 hosts[0]: host "lab1" has no address, and --no-ssh-config leaves ssh_config unread\n' +
        '  fix: add address: to this host, or drop --no-ssh-config to take the HostName of "Host lab1" from ~/.ssh/config (or the file given with -F)',
      '<tmp>/inventory.yaml:4 hosts[1]: host "lab2" has no address, and --no-ssh-config leaves ssh_config unread\n' +
        '  fix: add address: to this host, or drop --no-ssh-config to take the HostName of "Host lab2" from ~/.ssh/config (or the file given with -F)',
    ]);
  });

  it('names the files read when none gives the host a HostName', () => {
    expect(problems(ALIASES.replace('lab2', 'lab3'))).toEqual([
      '<tmp>/inventory.yaml:4 hosts[1]: host "lab3" has no address: the inventory gives none and <tmp>/ssh_config has no HostName for "lab3"\n' +
        '  fix: add address: to this host, or a "Host lab3" block with a HostName line to <tmp>/ssh_config',
    ]);
  });

  it('refuses what kubestrap cannot do: a chain of jump hosts, a jump host behind another, ProxyCommand', () => {
    const chain = SSH_CONFIG.replace('ProxyJump lab1', 'ProxyJump lab1,lab9');
    expect(problems(ALIASES, chain)).toEqual([expect.stringMatching(/hosts\[1\]: ssh_config gives "lab2" a chain of 2 jump hosts/)]);
    const behind = `Host lab1\n  HostName 10.0.0.11\n  ProxyJump bastion\n${SSH_CONFIG.replace('Host lab1\n  HostName 10.0.0.11\n', 'Host lab0\n')}`;
    expect(problems(ALIASES, behind)).toEqual([expect.stringMatching(/jump host "lab1" is itself reached through bastion/)]);
    const command = SSH_CONFIG.replace('ProxyJump lab1', 'ProxyCommand nc %h %p');
    expect(problems(ALIASES, command)).toEqual([expect.stringMatching(/reaches "lab2" with ProxyCommand, which kubestrap does not run/)]);
  });

  it('reports an ssh_config given with -F that does not exist as an input problem', () => {
    expect(problems(ALIASES, SSH_CONFIG, { kind: 'file', path: '/nonexistent/ssh_config' })).toEqual([
      '/nonexistent/ssh_config: the ssh_config file given with -F does not exist\n  fix: pass an existing file with -F, or leave -F out to read ~/.ssh/config',
    ]);
  });

  it("expands IdentityFile's %r and %p to the inventory's user and port, which win over ssh_config's", () => {
    const inventory = 'cluster: lab\nssh: { user: admin }\nhosts:\n  - { name: lab1, roles: [etcd, master, worker], ssh: { port: 2200 } }\n';
    writeTree(tmp(), { 'keys/admin-2200': 'a key' });
    const [lab1] = load(inventory, 'Host lab1\n  HostName 10.0.0.11\n  User ops\n  Port 2222\n  IdentityFile TMP/keys/%r-%p\n').hosts;
    expect(lab1!.ssh).toMatchObject({ user: 'admin', port: 2200, auth: { keyFile: join(tmp(), 'keys/admin-2200') } });
  });

  it("tries no default key when ssh_config names IdentityFiles, even none that exists or 'none', as OpenSSH does", () => {
    writeTree(tmp(), { 'home/.ssh/id_ed25519': 'a default key' });
    vi.stubEnv('HOME', join(tmp(), 'home'));
    vi.stubEnv('SSH_AUTH_SOCK', '/run/agent.sock');
    try {
      const inventory = 'cluster: lab\nhosts:\n  - { name: lab1, address: 10.0.0.11, roles: [etcd, master, worker] }\n  - { name: lab2, address: 10.0.0.12, roles: [worker] }\n';
      const [lab1, lab2] = load(inventory, 'Host 10.0.0.11\n  IdentityFile none\nHost 10.0.0.12\n  IdentityFile TMP/keys/missing\n').hosts;
      expect(lab1!.ssh.auth).toEqual({ agent: true });
      expect(lab2!.ssh.auth).toEqual({ agent: true });
      expect(load(inventory, '').hosts[0]!.ssh.auth).toEqual({ agent: true, keyFile: join(tmp(), 'home/.ssh/id_ed25519') });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('leaves an inventory that says everything unchanged by an empty ssh_config', () => {
    const inventory = 'cluster: lab\nhosts:\n  - { name: n1, address: 10.0.0.11, roles: [etcd, master, worker] }\n';
    expect(load(inventory, '').hosts[0]!.ssh).toMatchObject({ name: 'n1', address: '10.0.0.11', port: 22, user: 'root' });
  });
});
