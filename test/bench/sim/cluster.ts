import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A simulated cluster's files, in a folder of its own (also its state folder): `count` hosts, 3
 * etcd+masters (1 for fewer than 3) and the rest workers, all at 127.0.0.1 on ports `basePort + i`,
 * each with a cluster address 127.10.x.y (loopback: nothing is ever sent there), and the same
 * cluster with one more host in a second inventory. One host key for
 * every simulated host, in the cluster's known_hosts under each host's `[127.0.0.1]:port`.
 */
export interface SimCluster {
  dir: string;
  inventory: string;
  /** The same cluster plus one host (the last of `hosts`), for adding one with --limit. */
  inventoryPlusOne: string;
  config: string;
  hostKeyFile: string;
  hosts: SimHost[];
}

export interface SimHost {
  name: string;
  port: number;
  nodeIp: string;
  roles: string[];
}

export function simHosts(count: number, basePort: number): SimHost[] {
  const masters = count >= 3 ? 3 : 1;
  return Array.from({ length: count }, (_, i) => ({
    name: `sim${String(i).padStart(4, '0')}`,
    port: basePort + i,
    nodeIp: `127.10.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    roles: i < masters ? ['etcd', 'master', ...(count < 3 ? ['worker'] : [])] : ['worker'],
  }));
}

export function writeSimCluster(dir: string, count: number, basePort: number): SimCluster {
  const hosts = simHosts(count + 1, basePort);
  const hostKeyFile = join(dir, 'host_key');
  for (const key of [hostKeyFile, join(dir, 'client_key')]) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const hostPublic = readFileSync(`${hostKeyFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), hosts.map((h) => `[127.0.0.1]:${h.port} ${hostPublic}\n`).join(''));
  const inventory = writeInventory(join(dir, 'inventory.yaml'), hosts.slice(0, count));
  const inventoryPlusOne = writeInventory(join(dir, 'inventory-plus-one.yaml'), hosts);
  const config = join(dir, 'config.properties');
  // The example's pod network has room for 256 nodes' subnets; 1000 hosts need a wider one.
  writeFileSync(config, readFileSync('config.example.properties', 'utf8').replace(/^CLUSTER_CIDR=.*$/m, 'CLUSTER_CIDR=10.128.0.0/12'));
  return { dir, inventory, inventoryPlusOne, config, hostKeyFile, hosts };
}

function writeInventory(file: string, hosts: readonly SimHost[]): string {
  const lines = hosts.map((h) => `  - { name: ${h.name}, address: 127.0.0.1, internalAddress: ${h.nodeIp}, ssh: { port: ${h.port} }, roles: [${h.roles.join(', ')}] }`);
  writeFileSync(file, `cluster: sim\nstateDir: state\nssh:\n  user: root\n  keyFile: client_key\n  knownHosts: known_hosts\nhosts:\n${lines.join('\n')}\n`);
  return file;
}
