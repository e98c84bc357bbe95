import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { InvalidInputError } from '../../src/errors.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: n1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: n2, address: 10.0.0.12, roles: [etcd, worker] }
  - { name: n3, address: 10.0.0.13, roles: [etcd, worker], properties: { BIN_PATH: /usr/local/kube, MY_NOTE: hello } }
`;

describe('loadClusterSpec', () => {
  const tmp = useTempDir();

  function load(config: string, inventory = INVENTORY) {
    const inventoryFile = join(tmp(), 'inventory.yaml');
    const configFile = join(tmp(), 'config.properties');
    writeFileSync(inventoryFile, inventory);
    writeFileSync(configFile, config);
    return loadClusterSpec({ inventoryFile, configFile });
  }

  function problems(config: string, inventory = INVENTORY): string[] {
    try {
      load(config, inventory);
    } catch (err) {
      if (err instanceof InvalidInputError) return err.problems.map((p) => p.format().replace(tmp(), '<tmp>'));
      throw err;
    }
    return [];
  }

  it('a host marked remove: true leaves: membership-derived values come from the hosts that stay', () => {
    const spec = load('', INVENTORY.replace('roles: [etcd, worker] }\n', 'roles: [etcd, worker], remove: true }\n'));
    expect(spec.hosts.map((h) => h.name)).toEqual(['n1', 'n3']);
    expect(spec.leaving.map((h) => [h.name, h.leaving, h.roles])).toEqual([['n2', true, ['etcd', 'worker']]]);
    expect(spec.values.ETCD_ENDPOINTS).toBe('https://10.0.0.11:2379,https://10.0.0.13:2379');
    expect(spec.values.ETCD_INITIAL_CLUSTER).toBe('n1=https://10.0.0.11:2380,n3=https://10.0.0.13:2380');
  });

  it('refuses removing the last master or the last etcd member, saying why', () => {
    const inventory = INVENTORY.replace('roles: [etcd, master] }', 'roles: [etcd, master], remove: true }');
    expect(problems('', inventory)).toEqual([expect.stringContaining('no host has the master role once the 1 host(s) marked remove: true are gone')]);
  });

  it('derives ETCD_ENDPOINTS, MASTER_IP and the etcd initial cluster from the inventory', () => {
    const spec = load('');
    expect(spec.values.MASTER_IP).toBe('10.0.0.11');
    expect(spec.values.ETCD_ENDPOINTS).toBe('https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379');
    expect(spec.values.ETCD_INITIAL_CLUSTER).toBe('n1=https://10.0.0.11:2380,n2=https://10.0.0.12:2380,n3=https://10.0.0.13:2380');
    expect(spec.values.KUBE_APISERVER_URL).toBe('https://10.0.0.11:6443');
    expect(spec.kubeVersion.tag).toBe('v1.36.0');
    expect(spec.versions.etcd.tag).toBe('v3.6.14');
  });

  it('gives every host its NODE_IP, NODE_NAME and its own overrides on top of one config', () => {
    const spec = load('BIN_PATH=/opt/bin\n');
    const [n1, , n3] = spec.hosts;
    expect([n1!.values.NODE_IP, n1!.values.NODE_NAME, n1!.values.BIN_PATH]).toEqual(['10.0.0.11', 'n1', '/opt/bin']);
    expect([n3!.values.NODE_IP, n3!.values.BIN_PATH, n3!.values.MY_NOTE]).toEqual(['10.0.0.13', '/usr/local/kube', 'hello']);
  });

  it('builds SSH targets with inventory defaults, per-host overrides and a jump host', () => {
    const spec = load(
      '',
      INVENTORY.replace('cluster: lab', 'cluster: lab\nssh:\n  user: ops\n  port: 2222\n  passwordEnv: PW\n  jump: { address: 10.0.0.1, user: bastion }').replace(
        '{ name: n2, address: 10.0.0.12,',
        '{ name: n2, address: 10.0.0.12, ssh: { user: root, sudoPasswordEnv: SUDO }, ',
      ),
    );
    expect(spec.hosts[0]!.ssh).toMatchObject({ name: 'n1', address: '10.0.0.11', port: 2222, user: 'ops', auth: { passwordEnv: 'PW' } });
    expect(spec.hosts[0]!.ssh.jump).toMatchObject({ address: '10.0.0.1', port: 22, user: 'bastion' });
    expect(spec.hosts[1]!.ssh).toMatchObject({ user: 'root', sudoPasswordEnv: 'SUDO' });
  });

  it('keeps state next to the inventory by default', () => {
    const spec = load('');
    expect(spec.stateDir).toBe(join(tmp(), '.kubestrap', 'lab'));
    expect(spec.knownHostsFile).toBe(join(tmp(), '.kubestrap', 'lab', 'known_hosts'));
  });

  it('refuses NODE_IP and NODE_NAME in config.properties: they come from the inventory', () => {
    expect(problems('# old gen-config.sh file\nNODE_IP=10.0.0.11\n')).toEqual([
      "<tmp>/config.properties:2 NODE_IP: is derived from the inventory and cannot be set here\n  fix: remove the line; each host's address (or internalAddress) in the inventory is its NODE_IP",
    ]);
  });

  it('refuses networks that contain a host address', () => {
    expect(problems('CLUSTER_CIDR=10.0.0.0/16\n')).toEqual([
      "<tmp>/config.properties:1 CLUSTER_CIDR: 10.0.0.0/16 contains host n1's address 10.0.0.11\n  fix: pick a range that does not overlap the hosts' network",
    ]);
  });

  it('refuses a Docker bridge over the pod network, the Service network or a host, and a bridge that is no address', () => {
    expect(problems('DOCKER_BIP=172.20.0.1/16\n')).toEqual([
      '<tmp>/config.properties:1 DOCKER_BIP: 172.20.0.1/16 overlaps CLUSTER_CIDR 172.20.0.0/16\n  fix: pick a bridge range that overlaps no pod, Service or host address, e.g. 192.168.254.1/24',
    ]);
    expect(problems('DOCKER_BIP=10.64.0.1/10\n')[0]).toContain('DOCKER_BIP: 10.64.0.1/10 overlaps SERVICE_CIDR 10.68.0.0/16');
    expect(problems('DOCKER_BIP=10.0.0.1/24\n')[0]).toContain("DOCKER_BIP: 10.0.0.1/24 overlaps host n1's address 10.0.0.11");
    expect(problems('', INVENTORY.replace('MY_NOTE: hello', 'DOCKER_BIP: 10.0.0.1/24'))[0]).toBe(
      "<tmp>/inventory.yaml hosts[2].properties.DOCKER_BIP: 10.0.0.1/24 overlaps host n1's address 10.0.0.11\n  fix: pick a bridge range that overlaps no pod, Service or host address, e.g. 192.168.254.1/24",
    );
    expect(problems('DOCKER_BIP=172.17.0.0/16\n')[0]).toContain('DOCKER_BIP: "172.17.0.0/16" is not a bridge address');
    expect(problems('DOCKER_BIP=172.17.0.1/16\n')).toEqual([]);
  });

  it("takes a docker-ce repository as http(s) or file URL with yum's own variables only", () => {
    for (const url of ['https://mirrors.aliyun.com/docker-ce/linux/centos/$releasever/$basearch/stable', 'http://10.0.0.1:8000/el/docker-ce/$releasever/$basearch/stable', 'file:///srv/docker-ce']) {
      expect(problems(`DOCKER_YUM_REPO=${url}\n`)).toEqual([]);
    }
    for (const url of ['https://mirror.example/$HOME/docker-ce', 'ftp://mirror.example/docker-ce', 'https://mirror.example/docker-ce?x=1']) {
      expect(problems(`DOCKER_YUM_REPO=${url}\n`)[0]).toContain(`DOCKER_YUM_REPO: "${url}" is not a package repository URL`);
    }
  });

  it("takes Docker's apt repository and key with $distro only, and a vault or mirror URL for EL 7's base repositories", () => {
    for (const url of ['https://download.docker.com/linux/$distro', 'https://mirrors.aliyun.com/docker-ce/linux/ubuntu', 'file:///srv/docker-apt']) {
      expect(problems(`DOCKER_APT_REPO=${url}\nDOCKER_APT_GPGKEY=${url}/gpg\n`)).toEqual([]);
    }
    const [problem] = problems('DOCKER_APT_REPO=https://download.docker.com/linux/$releasever\n');
    expect(problem).toContain('DOCKER_APT_REPO: "https://download.docker.com/linux/$releasever" is not a package repository URL');
    expect(problem).toContain('$distro is filled in per host, e.g. https://download.docker.com/linux/$distro');
    expect(problems('EL_BASE_REPO=https://vault.centos.org/7.9.2009\n')).toEqual([]);
    expect(problems('EL_BASE_REPO=\n')).toEqual([]);
    expect(problems('EL_BASE_REPO=https://vault.centos.org/$releasever\n')[0]).toContain('EL_BASE_REPO: "https://vault.centos.org/$releasever" is not a package repository URL');
    expect(problems('EL_BASE_REPO=https://vault.centos.org/7.9.2009 --setopt=x\n')[0]).toContain('is not a package repository URL');
  });

  it('refuses an unknown container runtime source, naming them all', () => {
    expect(problems('CONTAINER_RUNTIME_SOURCE=tarball\n')[0]).toMatch(/CONTAINER_RUNTIME_SOURCE: .*tarball[\s\S]*auto, package, docker, static, bundle/);
    for (const source of ['auto', 'package', 'docker', 'static', 'bundle']) expect(problems(`CONTAINER_RUNTIME_SOURCE=${source}\n`)).toEqual([]);
  });

  it('refuses a pod network too small for the nodes', () => {
    expect(problems('CLUSTER_CIDR=172.20.0.0/24\nNODE_CIDR_MASK_SIZE=24\n')[0]).toContain('/24 per node does not fit into CLUSTER_CIDR 172.20.0.0/24');
    expect(problems('CLUSTER_CIDR=172.20.0.0/23\nNODE_CIDR_MASK_SIZE=24\n')[0]).toContain('holds 2 node subnets of /24, but the inventory has 3 nodes');
  });

  it('refuses the insecure tutorial mode for versions without an insecure port', () => {
    const [problem] = problems('SECURITY_MODE=insecure\nETCD_ENDPOINTS=http://10.0.0.11:2379\n');
    expect(problem).toContain("SECURITY_MODE: insecure mode needs kube-apiserver's insecure port (--insecure-port), which Kubernetes removed in v1.24; v1.36.0 rejects it");
    expect(problem).toContain('use SECURITY_MODE=tls');
  });

  it('refuses http etcd endpoints in TLS mode', () => {
    expect(problems('ETCD_ENDPOINTS=http://10.0.0.11:2379\n')[0]).toContain('http://10.0.0.11:2379 does not use https, which SECURITY_MODE=tls requires');
  });

  it('allows kube-proxy nftables mode in every supported version', () => {
    expect(problems('KUBE_VERSION=v1.31.0\nKUBE_PROXY_MODE=nftables\n')).toEqual([]);
  });

  it('warns that kube-proxy ipvs mode is deprecated from 1.35', () => {
    expect(load('KUBE_VERSION=v1.34.7\nKUBE_PROXY_MODE=ipvs\n').warnings).toEqual([]);
    expect(load('KUBE_VERSION=v1.35.0\nKUBE_PROXY_MODE=ipvs\n').warnings.map((w) => w.message)).toEqual([
      "KUBE_PROXY_MODE=ipvs: kube-proxy's ipvs mode is deprecated since Kubernetes 1.35 and will be removed",
    ]);
  });

  it('warns when MASTER_IP is not a master (a load balancer is fine)', () => {
    const spec = load('MASTER_IP=10.0.0.100\n');
    expect(spec.values.KUBE_APISERVER_URL).toBe('https://10.0.0.100:6443');
    expect(spec.warnings.map((w) => w.message)).toEqual(['10.0.0.100 is not the address of a master in the inventory']);
  });

  it('reports config and inventory problems together, each file in line order, and touches nothing', () => {
    const found = problems('B=1\nSERVICE_CIDR=bad\nB=2\n', INVENTORY.replace('name: n2', 'name: n1'));
    expect(found.map((p) => p.split(':').slice(0, 2).join(':'))).toEqual(['<tmp>/inventory.yaml:4 hosts[1].name', '<tmp>/config.properties:2 SERVICE_CIDR', '<tmp>/config.properties:3 B']);
  });
});
