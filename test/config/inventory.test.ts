import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory, parseInventory } from '../../src/config/inventory.js';
import { useTempDir } from '../support/tmp.js';

const parse = (yaml: string) => parseInventory(yaml, 'inv.yaml');
const formatted = (yaml: string) => parse(yaml).problems.map((p) => p.format());

const THREE_HOSTS = `cluster: demo
hosts:
  - name: m1
    address: 10.0.0.1
    roles: [etcd, master]
  - name: w1
    address: 10.0.0.2
    roles: [worker]
  - name: w2
    address: 10.0.0.3
    roles: [worker]
`;

describe('inventory', () => {
  it.each(['inventory/single-master.yaml', 'inventory/ha.yaml'])('loads the committed example %s', (file) => {
    const result = loadInventory(file);
    expect(result.problems).toEqual([]);
    expect(result.loaded?.inventory.hosts.length).toBeGreaterThanOrEqual(3);
  });

  it('accepts a minimal valid inventory', () => {
    const { loaded, problems, warnings } = parse(THREE_HOSTS);
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(loaded?.inventory.hosts.map((h) => h.name)).toEqual(['m1', 'w1', 'w2']);
  });

  it("validates the jump host's user like ssh.user", () => {
    const yaml = THREE_HOSTS.replace('cluster: demo\n', 'cluster: demo\nssh:\n  jump: { address: 10.0.0.9, user: "-oProxyCommand=id" }\n');
    expect(formatted(yaml)).toEqual(['inv.yaml:3 ssh.jump.user: "-oProxyCommand=id" is not valid\n  fix: write a Unix user name such as root']);
  });

  it('rejects an unknown field with its YAML path, line and the field it probably meant', () => {
    // address itself may be left out now (ssh_config's HostName can give it): the typo is the one problem.
    expect(formatted(THREE_HOSTS.replace('    address: 10.0.0.2', '    adress: 10.0.0.2'))).toEqual([
      'inv.yaml:7 hosts[1].adress: unknown field "adress"\n  fix: did you mean "address"? (valid fields: name, address, internalAddress, roles, ssh, properties, remove)',
    ]);
  });

  it('rejects unknown fields in nested ssh settings', () => {
    const [problem] = parse(THREE_HOSTS.replace('cluster: demo', 'cluster: demo\nssh:\n  usr: root')).problems;
    expect(problem?.where()).toBe('inv.yaml:3 ssh.usr');
    expect(problem?.hint).toContain('did you mean "user"?');
  });

  it('rejects duplicate names and addresses, pointing at the second occurrence', () => {
    const yaml = THREE_HOSTS.replace('name: w2', 'name: w1').replace('address: 10.0.0.3', 'address: 10.0.0.2');
    expect(parse(yaml).problems.map((p) => [p.where(), p.message])).toEqual([
      ['inv.yaml:9 hosts[2].name', '"w1" is already used by hosts[1]'],
      ['inv.yaml:10 hosts[2].address', '"10.0.0.2" is already used by hosts[1]'],
    ]);
  });

  it('rejects two hosts with one cluster address (internalAddress)', () => {
    const yaml = THREE_HOSTS.replace('address: 10.0.0.3', 'address: 10.0.0.3\n    internalAddress: 10.0.0.2');
    expect(parse(yaml).problems.map((p) => [p.where(), p.message])).toEqual([['inv.yaml:11 hosts[2].internalAddress', '"10.0.0.2" is already used by hosts[1]']]);
  });

  it('allows one address with different SSH ports (hosts behind a NAT) when their cluster addresses differ', () => {
    const yaml = `cluster: nat
hosts:
  - { name: a, address: gw.example.com, internalAddress: 10.0.0.1, roles: [etcd, master], ssh: { port: 2201 } }
  - { name: b, address: gw.example.com, internalAddress: 10.0.0.2, roles: [worker], ssh: { port: 2202 } }
`;
    expect(parse(yaml).problems).toEqual([]);
  });

  it('needs an IP for the cluster when the SSH address is a name', () => {
    const [problem] = parse(THREE_HOSTS.replace('address: 10.0.0.3', 'address: w2.example.com')).problems;
    expect(problem?.where()).toBe('inv.yaml:10 hosts[2].address');
    expect(problem?.hint).toBe('add internalAddress: <IPv4 address> to this host');
  });

  it('rejects an inventory without an etcd member or without a master', () => {
    const yaml = THREE_HOSTS.replace('roles: [etcd, master]', 'roles: [worker]');
    expect(parse(yaml).problems.map((p) => p.message)).toEqual(['no host has the etcd role', 'no host has the master role']);
  });

  it('warns about an even number of etcd members, without refusing it', () => {
    const yaml = THREE_HOSTS.replace('address: 10.0.0.2\n    roles: [worker]', 'address: 10.0.0.2\n    roles: [etcd, worker]');
    const { problems, warnings } = parse(yaml);
    expect(problems).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toBe('2 etcd members tolerate no more failures than 1');
  });

  it('rejects roles that do not exist and lists the valid ones', () => {
    const [problem] = parse(THREE_HOSTS.replace('roles: [worker]', 'roles: [node]')).problems;
    expect(problem?.where()).toBe('inv.yaml:8 hosts[1].roles[0]');
    expect(problem?.hint).toBe('write one of: etcd, master, worker');
  });

  const tmp = useTempDir();

  it('rejects a key file that does not exist, resolving it against the inventory folder', () => {
    const file = join(tmp(), 'inv.yaml');
    writeFileSync(file, THREE_HOSTS.replace('cluster: demo', 'cluster: demo\nssh:\n  keyFile: keys/missing'));
    const [problem] = loadInventory(file).problems;
    expect(problem?.where()).toBe(`${file}:3 ssh.keyFile`);
    expect(problem?.message).toBe(`key file ${join(tmp(), 'keys/missing')} does not exist`);
  });

  it('accepts an existing key file and a password from a named environment variable', () => {
    const file = join(tmp(), 'inv.yaml');
    writeFileSync(join(tmp(), 'id_test'), 'key');
    writeFileSync(file, THREE_HOSTS.replace('cluster: demo', 'cluster: demo\nssh:\n  keyFile: id_test\n  passwordEnv: MY_SSH_PASSWORD'));
    expect(loadInventory(file).problems).toEqual([]);
  });

  it('refuses a secret written into the inventory instead of an environment variable name', () => {
    const [problem] = parse(THREE_HOSTS.replace('cluster: demo', 'cluster: demo\nssh:\n  passwordEnv: "hunter2!"')).problems;
    expect(problem?.where()).toBe('inv.yaml:3 ssh.passwordEnv');
    expect(problem?.hint).toContain('the NAME of an environment variable');
  });

  it('checks per-host properties: cluster-wide keys, derived keys and bad values are errors', () => {
    const yaml = THREE_HOSTS.replace(
      '    roles: [worker]\n  - name: w2',
      '    roles: [worker]\n    properties:\n      SERVICE_CIDR: 10.1.0.0/16\n      NODE_IP: 10.0.0.9\n      BIN_PATH: relative\n      DOCKER_DATA_ROOT: /data/docker\n  - name: w2',
    );
    expect(parse(yaml).problems.map((p) => [p.where(), p.message, p.hint])).toEqual([
      ['inv.yaml:10 hosts[1].properties.SERVICE_CIDR', 'SERVICE_CIDR must be the same on every host', 'set it in config.properties instead'],
      ['inv.yaml:11 hosts[1].properties.NODE_IP', 'NODE_IP comes from the inventory and cannot be overridden', "set this host's internalAddress instead"],
      ['inv.yaml:12 hosts[1].properties.BIN_PATH', '"relative" is not an absolute path', expect.stringContaining('/opt/kube/bin')],
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const [problem] = parse('cluster: demo\nhosts:\n  - name: a\n   address: x\n').problems;
    expect(problem?.position().line).toBe(4);
    expect(problem?.message).toMatch(/^is not valid YAML/);
  });

  it('reports a duplicate YAML key', () => {
    const [problem] = parse(THREE_HOSTS.replace('cluster: demo', 'cluster: demo\ncluster: other')).problems;
    expect(problem?.message).toContain('unique');
  });

  it('rejects a host name that cannot be a Kubernetes node name', () => {
    const [problem] = parse(THREE_HOSTS.replace('name: w1', 'name: Worker_1')).problems;
    expect(problem?.where()).toBe('inv.yaml:6 hosts[1].name');
    expect(problem?.hint).toContain('lower-case host name');
  });
});
