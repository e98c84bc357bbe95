import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { InvalidInputError } from '../../src/errors.js';
import { importInventory, type ImportResult } from '../../src/import/import.js';
import { planInputCheck } from '../../src/cli/run-inputs.js';
import { importReportSchema } from '../../src/import/report-schema.js';
import { runCli } from '../support/cli.js';
import { expectFitsSchemaFile } from '../support/report-schemas.js';
import { useTempDir, writeTree } from '../support/tmp.js';

const FIXTURES = resolve(import.meta.dirname, 'fixtures');
const KUBEASZ = join(FIXTURES, 'kubeasz/hosts');
const KUBEASZ_2 = join(FIXTURES, 'kubeasz-2/hosts');
const KUBESPRAY_YAML = join(FIXTURES, 'kubespray/hosts.yaml');
const KUBESPRAY_INI = join(FIXTURES, 'kubespray-ini/inventory-uncommented.ini');
const useTemp = useTempDir('kubestrap-import-');

const properties = (r: ImportResult) => Object.fromEntries(r.properties.map((p) => [p.key, p.value]));
const left = (r: ImportResult, name: string) => r.leftBehind.filter((i) => i.name === name);
/** Every name the report mentions, whatever it became. */
const accounted = (r: ImportResult) => new Set([...r.properties.flatMap((p) => p.from.map((f) => f.split(' ')[0]!)), ...[...r.settled, ...r.adjusted, ...r.leftBehind].map((i) => i.name)]);

describe('bootstrap import of kubeasz', () => {
  it("takes hosts, roles, node names and [all:vars] from kubeasz's example hosts file", () => {
    const r = importInventory(KUBEASZ);
    expect(r.format).toBe('kubeasz');
    expect(r.inventory.hosts).toEqual([
      ...['master-01', 'master-02', 'master-03'].map((name, i) => ({ name, address: `192.168.1.${i + 1}`, roles: ['etcd', 'master', 'worker'] })),
      { name: 'worker-01', address: '192.168.1.4', roles: ['worker'] },
      { name: 'worker-02', address: '192.168.1.5', roles: ['worker'] },
    ]);
    expect(properties(r)).toEqual({
      KUBE_APISERVER_PORT: '6443',
      KUBE_PROXY_MODE: 'nftables',
      SERVICE_CIDR: '10.68.0.0/16',
      CLUSTER_CIDR: '172.20.0.0/16',
      NODE_PORT_RANGE: '30000-32767',
      CLUSTER_DOMAIN: 'cluster.local',
      BIN_PATH: '/opt/kube/bin',
      CLUSTER_DNS_SVC_IP: '10.68.0.2',
    });
    expect(r.properties.find((p) => p.key === 'SERVICE_CIDR')?.from).toEqual([`SERVICE_CIDR (${KUBEASZ}:53 [all:vars])`]);
    expect(left(r, 'CLUSTER_NETWORK')).toEqual([
      expect.objectContaining({ value: '"calico"', where: `${KUBEASZ}:46 [all:vars]`, why: "kubestrap's pod network is flannel: calico is not carried over" }),
    ]);
  });

  it('accounts for every variable of the file: carried over, settled, or left behind with why', () => {
    const r = importInventory(KUBEASZ);
    const written = readFileSync(KUBEASZ, 'utf8')
      .split('\n')
      .map((l) => /^([A-Za-z_]+)=/.exec(l)?.[1])
      .filter((k): k is string => k !== undefined);
    expect(written).toHaveLength(13);
    for (const key of written) expect(accounted(r), key).toContain(key);
    expect(left(r, 'ansible_python_interpreter')[0]?.why).toBe('kubestrap runs no Python on the hosts');
    expect(left(r, 'k8s_nodename')[0]?.why).toBe('is overridden on every imported host it applies to');
    // The example names no version: the report says which one the cluster will get.
    expect(left(r, 'Kubernetes version')[0]?.why).toMatch(/^no version kubestrap accepts was found \(K8S_VER\): KUBE_VERSION takes kubestrap's default, v1\.\d+\.\d+$/);
  });

  it("reads config.yml beside hosts as kubeasz's playbooks do; values kubestrap refuses are reported with the key's own check", () => {
    const dir = useTemp();
    const config = readFileSync(join(FIXTURES, 'kubeasz-config/config.yml'), 'utf8');
    // As `ezctl new k8s-01` writes them: the cluster's name in hosts, its versions in config.yml.
    writeTree(dir, {
      hosts: readFileSync(KUBEASZ, 'utf8').replace('_cluster_name_', 'k8s-01').replace(" k8s_nodename='worker-02'", ''),
      'config.yml': config.replace('__k8s_ver__', 'v1.34.2'),
    });
    const r = importInventory(join(dir, 'hosts'));
    expect(r.inventory.cluster).toBe('k8s-01');
    // config.yml's K8S_NODENAME names a node without k8s_nodename k8s-<address>.
    expect(r.inventory.hosts.at(-1)?.name).toBe('k8s-192-168-1-5');
    expect(r.adjusted.find((a) => a.name === 'cluster')?.where).toBe(`${join(dir, 'hosts')}:72 [all:vars] cluster_dir`);
    expect(left(r, 'Kubernetes version')).toEqual([]);
    expect(properties(r)).toMatchObject({ KUBE_VERSION: 'v1.34.2', APISERVER_EXTRA_SANS: '10.1.1.1,k8s.easzlab.io', NODE_CIDR_MASK_SIZE: '24', FLANNEL_BACKEND: 'vxlan', CA_VALIDITY_DAYS: '36500' });
    // 438000h is 18250 days: past what CERT_VALIDITY_DAYS accepts, so it is left behind with that check's words.
    expect(left(r, 'CERT_EXPIRY')).toEqual([expect.objectContaining({ value: '438000h (18250)', why: expect.stringContaining('as CERT_VALIDITY_DAYS: ') })]);
    expect(left(r, 'flannel_ver')[0]?.why).toBe('as FLANNEL_VERSION: "__flannel__" is not a version');
    expect(left(r, 'IP_AUTODETECTION_METHOD')[0]).toMatchObject({ where: join(dir, 'config.yml'), why: 'kubestrap has no setting for it' });
    expect(r.read).toEqual([join(dir, 'hosts'), join(dir, 'config.yml')]);
  });

  it('takes a kubeasz 2.x hosts file, whose groups are kube-master and kube-node as in old kubespray ones, as kubeasz', () => {
    const r = importInventory(KUBEASZ_2);
    expect(r.format).toBe('kubeasz');
    expect(r.inventory.hosts.map((h) => [h.name, h.address, h.roles.join('+')])).toEqual([
      ['192-168-1-1', '192.168.1.1', 'etcd+master+worker'],
      ['192-168-1-2', '192.168.1.2', 'etcd+master+worker'],
      ['192-168-1-3', '192.168.1.3', 'etcd+worker'],
      ['192-168-1-4', '192.168.1.4', 'worker'],
    ]);
    // Without config.yml's K8S_NODENAME (kubeasz before 3.6.4), kubeasz's nodes are named by their inventory name: the change is said.
    expect(r.adjusted.find((a) => a.name === '192.168.1.1')?.why).toContain('kubeasz names its node 192.168.1.1');
    // A 3.x hosts file (cluster_dir) without its config.yml is taken as today's kubeasz's, which names the node k8s-<address>.
    const dir = useTemp();
    writeTree(dir, { hosts: readFileSync(KUBEASZ, 'utf8').replace(" k8s_nodename='worker-02'", '') });
    expect(importInventory(join(dir, 'hosts')).inventory.hosts.at(-1)?.name).toBe('k8s-192-168-1-5');
    // kubeasz before 3.x wrote the cluster domain with the root's dot: the same domain.
    expect(properties(r)).toMatchObject({ SERVICE_CIDR: '10.68.0.0/16', CLUSTER_CIDR: '172.20.0.0/16', KUBE_PROXY_MODE: 'ipvs', CLUSTER_DOMAIN: 'cluster.local' });
    expect(left(r, 'NODE_NAME').map((l) => l.why)).toEqual(Array(3).fill('kubestrap names each etcd member after its host'));
  });
});

describe('bootstrap import of kubespray', () => {
  it("takes the inventory builder's hosts.yaml with the sample's group_vars", () => {
    const r = importInventory(KUBESPRAY_YAML);
    expect(r.format).toBe('kubespray');
    expect(r.inventory.hosts.map((h) => [h.name, h.address, h.roles.join('+'), h.internalAddress])).toEqual([
      ['node1', '10.10.1.3', 'etcd+master+worker', undefined],
      ['node2', '10.10.1.4', 'etcd+master+worker', undefined],
      ['node3', '10.10.1.5', 'etcd+worker', undefined],
      ['node4', '10.10.1.6', 'worker', undefined],
    ]);
    expect(properties(r)).toEqual({
      // node1 and node2 are in kube_node too: kubespray leaves them untainted.
      MASTER_SCHEDULABLE: 'true',
      SERVICE_CIDR: '10.233.0.0/18',
      CLUSTER_CIDR: '10.233.64.0/18',
      NODE_CIDR_MASK_SIZE: '24',
      KUBE_APISERVER_PORT: '6443',
      KUBE_PROXY_MODE: 'ipvs',
      CLUSTER_DOMAIN: 'cluster.local',
      BIN_PATH: '/usr/local/bin',
      CLUSTER_DNS_SVC_IP: '10.233.0.3',
    });
    expect(r.settled.filter((s) => s.name === 'access_ip')).toHaveLength(4);
    expect(left(r, 'kube_network_plugin')[0]?.value).toBe('"calico"');
    expect(left(r, 'kubeadm_certificate_key')[0]?.why).toBe('kubestrap has no setting for it');
  });

  it('takes the sample inventory.ini once its host lines are uncommented: ansible_host, [etcd:children]', () => {
    const r = importInventory(KUBESPRAY_INI);
    expect(r.inventory.hosts.map((h) => [h.name, h.address, h.roles.join('+')])).toEqual([
      ['node1', '95.54.0.12', 'etcd+master+worker'],
      ['node2', '95.54.0.13', 'etcd+master+worker'],
      ['node3', '95.54.0.14', 'etcd+master+worker'],
      ['node4', '95.54.0.15', 'worker'],
      ['node5', '95.54.0.16', 'worker'],
      ['node6', '95.54.0.17', 'worker'],
    ]);
    expect(r.settled.find((s) => s.name === 'masters')?.why).toContain('keeps them off ordinary pods');
  });

  it('refuses the sample inventory.ini as it is, naming the empty groups', () => {
    expect(() => importInventory(join(FIXTURES, 'kubespray-ini/inventory.ini'))).toThrow(
      'has no host in the groups kubestrap takes roles from (etcd, kube_control_plane, kube-master, kube_node, kube-node): etcd, kube_control_plane, kube_node are empty',
    );
  });

  it('takes SSH settings, ip and a bastion; keeps secrets out of the report; reports what it does not carry', () => {
    const dir = useTemp();
    writeTree(dir, {
      'inventory.ini': [
        '[bastion]',
        'bastion ansible_host=203.0.113.9 ansible_user=jump',
        '[kube_control_plane]',
        'cp1 ansible_host=10.0.0.1 ip=10.1.0.1 etcd_member_name=etcd1',
        '[etcd:children]',
        'kube_control_plane',
        '[kube_node]',
        'w[1:2] ansible_port=2222',
        'Odd_Name.lan ansible_host=10.0.0.9',
        '[calico_rr]',
        'rr1 ansible_host=10.0.0.50',
        '[all:vars]',
        'ansible_user=ubuntu',
        'ansible_become_pass=hunter2',
        'kube_version=1.34.2',
        'registry_password=s3cret',
        'kube_encryption_key="k3y"',
        '[k8s_cluster:children]',
        'kube_control_plane',
        'kube_node',
      ].join('\n'),
    });
    const r = importInventory(join(dir, 'inventory.ini'));
    expect(r.inventory.ssh).toEqual({ user: 'ubuntu', jump: { address: '203.0.113.9', user: 'jump' } });
    expect(r.inventory.hosts).toEqual([
      { name: 'cp1', address: '10.0.0.1', internalAddress: '10.1.0.1', roles: ['etcd', 'master', 'worker'] },
      { name: 'w1', address: 'w1', roles: ['worker'], ssh: { port: 2222 } },
      { name: 'w2', address: 'w2', roles: ['worker'], ssh: { port: 2222 } },
      { name: 'odd-name-lan', address: '10.0.0.9', roles: ['worker'] },
    ]);
    expect(properties(r).KUBE_VERSION).toBe('v1.34.2');
    expect(left(r, 'ansible_become_pass')).toEqual([expect.objectContaining({ hint: 'put it in an environment variable and set ssh.sudoPasswordEnv to its name' })]);
    for (const secret of ['hunter2', 's3cret', 'k3y']) expect(JSON.stringify(r)).not.toContain(secret);
    expect(left(r, 'registry_password')).toEqual([expect.objectContaining({ why: 'kubestrap has no setting for it' })]);
    expect(left(r, 'etcd_member_name')[0]?.why).toBe('kubestrap names each etcd member after its host');
    expect(left(r, 'rr1')[0]?.why).toContain('is in none of the groups kubestrap takes roles from');
    expect(left(r, '[calico_rr]')[0]?.value).toBe('rr1');
    expect(r.adjusted.find((a) => a.name === 'Odd_Name.lan')?.value).toBe('odd-name-lan');
    expect(r.leftBehind.find((i) => i.name === 'masters in a worker group')).toBeUndefined();
  });

  it("reads host_vars/ and group_vars/ beside the inventory, k8s_cluster's too though only kubespray's run makes that group; a file for a group it does not have is reported, not read", () => {
    const dir = useTemp();
    writeTree(dir, {
      'hosts.yaml': 'all:\n  hosts:\n    node1:\n      ansible_host: 10.0.0.1\n  children:\n    kube_control_plane:\n      hosts:\n        node1:\n    etcd:\n      hosts:\n        node1:\n',
      'host_vars/node1.yml': 'ansible_user: admin\nansible_port: 2200\n',
      'group_vars/k8s_cluster.yml': 'kube_pods_subnet: 10.244.0.0/16\n',
      'group_vars/all/versions.yaml': 'kube_version: v1.35.1\n',
      'group_vars/calico.yml': 'calico_version: v3.29.0\n',
    });
    const r = importInventory(join(dir, 'hosts.yaml'));
    expect(r.inventory.ssh).toEqual({ user: 'admin', port: 2200 });
    expect(properties(r)).toMatchObject({ KUBE_VERSION: 'v1.35.1' });
    // kubespray makes k8s_cluster at run time (dynamic_groups) out of kube_control_plane and kube_node.
    expect(properties(r).CLUSTER_CIDR).toBe('10.244.0.0/16');
    expect(r.leftBehind).toContainEqual(expect.objectContaining({ name: 'calico.yml', why: 'names a group or host the inventory does not have, so Ansible applies it to no host' }));
    expect(r.read).toEqual([join(dir, 'hosts.yaml'), join(dir, 'group_vars/all/versions.yaml'), join(dir, 'group_vars/k8s_cluster.yml'), join(dir, 'host_vars/node1.yml')]);
  });

  it('reads vars files as Ansible finds them: a file without extension or .json too, folders in depth, the first of NAME, NAME.yml, NAME.yaml, NAME.json only', () => {
    const dir = useTemp();
    writeTree(dir, {
      'inventory.ini': '[kube_control_plane]\nnode1 ansible_host=10.0.0.1\n[etcd:children]\nkube_control_plane\n',
      'group_vars/all': 'kube_version: v1.35.1\n',
      'group_vars/all.yml': 'kube_version: v1.30.0\n',
      'group_vars/etcd.json': '{"etcd_version": "v3.5.21"}\n',
      'group_vars/kube_control_plane/net/cidr.yml': 'kube_pods_subnet: 10.244.0.0/16\n',
      'group_vars/kube_control_plane/old.yml~': 'kube_service_addresses: 10.1.0.0/16\n',
    });
    const r = importInventory(join(dir, 'inventory.ini'));
    expect(properties(r)).toMatchObject({ KUBE_VERSION: 'v1.35.1', ETCD_VERSION: 'v3.5.21', CLUSTER_CIDR: '10.244.0.0/16' });
    expect(properties(r).SERVICE_CIDR).toBeUndefined();
    expect(left(r, 'all.yml')).toEqual([expect.objectContaining({ why: `Ansible reads ${join(dir, 'group_vars/all')} for all, and not this file` })]);
    expect(r.read).toEqual([join(dir, 'inventory.ini'), join(dir, 'group_vars/all'), join(dir, 'group_vars/etcd.json'), join(dir, 'group_vars/kube_control_plane/net/cidr.yml')]);
  });

  it('refuses a YAML group with a key Ansible would skip, or hosts that are not a mapping', () => {
    const dir = useTemp();
    writeTree(dir, { 'hosts.yaml': 'all:\n  children:\n    kube_control_plane:\n      host:\n        node1:\n    kube_node:\n      hosts: [node2]\n' });
    expect(() => importInventory(join(dir, 'hosts.yaml'))).toThrow(
      expect.objectContaining({
        problems: [
          expect.objectContaining({ key: 'all.children.kube_control_plane.host', message: 'is not hosts, vars or children' }),
          expect.objectContaining({ key: 'all.children.kube_node.hosts', message: 'is not a mapping' }),
        ],
      }),
    );
  });

  it('expands host keys of a YAML inventory as Ansible does: a port after the name, ranges', () => {
    const dir = useTemp();
    writeTree(dir, {
      'hosts.yaml': [
        'all:',
        '  hosts:',
        '    10.0.0.1:2222:',
        '    node[2:3]:',
        '      ansible_host: 10.0.0.9',
        '  children:',
        '    kube_control_plane:',
        '      hosts:',
        '        10.0.0.1:2222:',
        '    etcd:',
        '      hosts:',
        '        10.0.0.1:2222:',
        '    kube_node:',
        '      hosts:',
        '        node[2:3]:',
        '',
      ].join('\n'),
    });
    const r = importInventory(join(dir, 'hosts.yaml'));
    expect(r.inventory.hosts.map((h) => [h.name, h.address, h.ssh?.port])).toEqual([
      ['10-0-0-1', '10.0.0.1', 2222],
      ['node2', '10.0.0.9', undefined],
      ['node3', '10.0.0.9', undefined],
    ]);
    writeTree(dir, { 'bad.yaml': 'all:\n  children:\n    kube_node:\n      hosts:\n        bad[1:\n' });
    expect(() => importInventory(join(dir, 'bad.yaml'))).toThrow(expect.objectContaining({ problems: [expect.objectContaining({ message: expect.stringContaining('is not a host name or range') })] }));
  });

  it("takes an old kubespray inventory (kube-master) with a group of the operator's own named like one of kubeasz's as kubespray", () => {
    const dir = useTemp();
    writeTree(dir, {
      'inventory.ini':
        '[kube-master]\nnode1 ansible_host=10.0.0.1\n[etcd]\nnode1\n[kube-node]\nnode2 ansible_host=10.0.0.2\n[lb]\nlb1 ansible_host=10.0.0.9\n[k8s-cluster:children]\nkube-master\nkube-node\n',
    });
    expect(importInventory(join(dir, 'inventory.ini')).format).toBe('kubespray');
  });

  it("says which hosts of a group kubestrap has no use for lose that group's part (kubespray 2.x's [vault]), groups of groups aside", () => {
    const dir = useTemp();
    writeTree(dir, {
      'inventory.ini':
        '[all]\nnode1 ansible_host=10.0.0.1\nnode2 ansible_host=10.0.0.2\n[kube-master]\nnode1\n[kube-node]\nnode2\n[etcd]\nnode1\n[k8s-cluster:children]\nkube-node\nkube-master\n[calico-rr]\n[vault]\nnode1\nnode2\n[monitoring]\nnode2\n',
    });
    const r = importInventory(join(dir, 'inventory.ini'));
    const why = expect.stringContaining('kubestrap gives this group no role');
    // (A name like vault's keeps its value out of the report, as for any setting that may hold a secret.)
    expect(left(r, '[vault]')).toEqual([expect.objectContaining({ why })]);
    expect(left(r, '[monitoring]')).toEqual([expect.objectContaining({ value: 'node2', why })]);
    expect(r.leftBehind.filter((l) => l.name.startsWith('['))).toHaveLength(2);
  });

  it('says that a relative key file is taken from another folder than Ansible takes it from', () => {
    const dir = useTemp();
    writeTree(dir, {
      'inventory.ini':
        '[kube_control_plane]\nnode1 ansible_host=10.0.0.1 ansible_ssh_private_key_file=keys/id_rsa\nnode2 ansible_host=10.0.0.2 ansible_ssh_private_key_file=keys/id_rsa\n[etcd:children]\nkube_control_plane\n',
    });
    const r = importInventory(join(dir, 'inventory.ini'));
    expect(r.inventory.ssh?.keyFile).toBe('keys/id_rsa');
    expect(r.adjusted.filter((a) => a.name === 'ansible_ssh_private_key_file')).toEqual([
      expect.objectContaining({ value: 'keys/id_rsa', why: expect.stringContaining("kubestrap from inventory.yaml's folder") }),
    ]);
  });

  it('asks which tool wrote an inventory it cannot tell', () => {
    const dir = useTemp();
    writeTree(dir, { hosts: '[web]\nw1\n' });
    expect(() => importInventory(join(dir, 'hosts'))).toThrow(InvalidInputError);
    expect(() => importInventory(join(dir, 'hosts'))).toThrow(expect.objectContaining({ problems: [expect.objectContaining({ hint: 'pass --from kubeasz or --from kubespray' })] }));
  });
});

describe('bootstrap import on the command line', () => {
  it.each([
    ['kubeasz hosts', KUBEASZ],
    ['kubeasz 2.x hosts', KUBEASZ_2],
    ['kubespray hosts.yaml', KUBESPRAY_YAML],
    ['kubespray inventory.ini', KUBESPRAY_INI],
  ])('writes from %s an inventory and properties that plan accepts', async (_name, source) => {
    const dir = useTemp();
    const run = await runCli(['import', source, '--out', dir]);
    expect(run.stderr).not.toContain('error');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('plan accepts them');
    const files = { inventoryFile: join(dir, 'inventory.yaml'), configFile: join(dir, 'config.properties') };
    // What plan checks before it connects, asked again here of the files as written.
    expect(planInputCheck(files.inventoryFile, files.configFile).problems).toEqual([]);
    const spec = loadClusterSpec(files);
    const expected = importInventory(source);
    expect(spec.hosts.map((h) => h.name)).toEqual(expected.inventory.hosts.map((h) => h.name));
    for (const p of expected.properties) expect(spec.values[p.key], p.key).toBe(p.value);
  });

  it('refuses to replace files that exist, unless --force', async () => {
    const dir = useTemp();
    writeTree(dir, { 'config.properties': 'KEEP=me\n' });
    const refused = await runCli(['import', KUBEASZ, '--out', dir]);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining(`${join(dir, 'config.properties')} already exists`)]);
    expect(readFileSync(join(dir, 'config.properties'), 'utf8')).toBe('KEEP=me\n');
    const forced = await runCli(['import', KUBEASZ, '--out', dir, '--force', '--output', 'json']);
    expect(forced.code).toBe(0);
    expect(importReportSchema.parse(JSON.parse(forced.stdout))).toMatchObject({ ok: true, format: 'kubeasz', planProblems: [] });
    expectFitsSchemaFile('import', forced.stdout);
    expect(readFileSync(join(dir, 'config.properties'), 'utf8')).toContain('SERVICE_CIDR=10.68.0.0/16');
  });

  it('exits 2 with what plan refuses in the files it wrote, kept for editing', async () => {
    const dir = useTemp();
    // A host name instead of an address: the cluster needs each host's IP.
    writeTree(dir, { hosts: readFileSync(KUBEASZ, 'utf8').replace('192.168.1.5 ', 'worker5.lan ') });
    const run = await runCli(['import', join(dir, 'hosts'), '--out', join(dir, 'out'), '--output', 'json']);
    expect(run.code).toBe(2);
    expectFitsSchemaFile('import', run.stdout);
    const report = importReportSchema.parse(JSON.parse(run.stdout));
    expect(report.ok).toBe(false);
    expect(report.planProblems).toEqual([expect.stringContaining('"worker5.lan" is a name, but the cluster needs this host\'s IP')]);
    expect(report.notCarriedOver.length).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'out/inventory.yaml'), 'utf8')).toContain('worker5.lan');
  });
});
