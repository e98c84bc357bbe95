import { describe, expect, it } from 'vitest';
import { expandHostPattern, literalValue, parseAnsibleIni, shlexSplit } from '../../src/import/ansible-ini.js';
import { effectiveVars, groupMembers } from '../../src/import/ansible-inventory.js';

describe("Ansible's INI inventory", () => {
  it('splits a host line as shlex does: quotes kept together, a # ends the line', () => {
    expect(shlexSplit(`192.168.1.1 k8s_nodename='master-01' note="a b" # ip=10.0.0.1`)).toEqual(['192.168.1.1', 'k8s_nodename=master-01', 'note=a b']);
    expect(shlexSplit(`h x="a\\"b"`)).toEqual(['h', 'x=a"b']);
    expect(shlexSplit(`h x='open`)).toBeUndefined();
  });

  it("reads values as Python's literal_eval does, and keeps what it cannot read as written", () => {
    expect(literalValue('"6443"')).toBe('6443');
    expect(literalValue('22')).toBe(22);
    expect(literalValue('True')).toBe(true);
    expect(literalValue("''")).toBe('');
    expect(literalValue('"vxlan" # the backend')).toBe('vxlan');
    expect(literalValue('/usr/bin/python3')).toBe('/usr/bin/python3');
    expect(literalValue('calico # a comment')).toBe('calico # a comment');
  });

  it('expands host ranges and splits a port off', () => {
    expect(expandHostPattern('node[1:3]')).toEqual({ hosts: ['node1', 'node2', 'node3'] });
    expect(expandHostPattern('node[01:03].lan')).toEqual({ hosts: ['node01.lan', 'node02.lan', 'node03.lan'] });
    expect(expandHostPattern('db-[a:c]')).toEqual({ hosts: ['db-a', 'db-b', 'db-c'] });
    expect(expandHostPattern('n[1:5:2]')).toEqual({ hosts: ['n1', 'n3', 'n5'] });
    expect(expandHostPattern('10.0.0.5:2222')).toEqual({ hosts: ['10.0.0.5'], port: 2222 });
    expect(expandHostPattern('bad[1:')).toBeUndefined();
  });

  it("takes IPv6 addresses as Ansible's parse_address does: bare, or in brackets with a port", () => {
    expect(expandHostPattern('2001:db8::1')).toEqual({ hosts: ['2001:db8::1'] });
    expect(expandHostPattern('[fe80::3]:2222')).toEqual({ hosts: ['fe80::3'], port: 2222 });
    expect(expandHostPattern('[2001:db8::2]')).toEqual({ hosts: ['2001:db8::2'] });
    expect(expandHostPattern('node:x')).toBeUndefined();
  });

  it("lets a host line's ansible_port win over the port written after its name, as Ansible sets the variables after the port", () => {
    const { inventory } = parseAnsibleIni('[nodes]\nn1:2222 ansible_port=2200\nn2:2222\n', 'hosts');
    expect(inventory.hosts.get('n1')?.get('ansible_port')?.value).toBe(2200);
    expect(inventory.hosts.get('n2')?.get('ansible_port')?.value).toBe(2222);
  });

  it('reads groups, children and vars, with where each value was written', () => {
    const text = [
      '# a comment',
      '[masters]',
      'm[1:2] ansible_user=ops',
      '[etcd:children]',
      'masters',
      '[etcd:vars]',
      'x = "from etcd"',
      '[all:vars]',
      'x=from-all',
      'SERVICE_CIDR="10.96.0.0/12"',
    ].join('\n');
    const { inventory, problems } = parseAnsibleIni(text, 'hosts');
    expect(problems).toEqual([]);
    expect(groupMembers(inventory, 'etcd')).toEqual(['m1', 'm2']);
    const vars = effectiveVars(inventory, 'm2');
    expect(vars.get('ansible_user')).toEqual({ value: 'ops', where: 'hosts:3 [masters]' });
    // A child group's variables override all's, as in Ansible.
    expect(vars.get('x')).toEqual({ value: 'from etcd', where: 'hosts:7 [etcd:vars]' });
    expect(vars.get('SERVICE_CIDR')?.value).toBe('10.96.0.0/12');
  });

  it('names the line of what it cannot read', () => {
    const { problems } = parseAnsibleIni('[nodes]\nn1 novalue\n[nodes:weird]\n', 'hosts');
    expect(problems.map((p) => p.format())).toEqual([
      'hosts:2: "novalue" is not a key=value host variable\n  fix: write host variables as key=value after the host name',
      'hosts:3: section [nodes:weird] has an unknown type\n  fix: Ansible knows :vars and :children',
    ]);
  });
});
