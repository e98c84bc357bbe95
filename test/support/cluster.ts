import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadClusterSpec, type ClusterSpec } from '../../src/config/cluster-spec.js';

export const LAB_INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
  - { name: e1, address: 10.0.0.13, roles: [etcd] }
`;

/** Writes an inventory and a config.properties into `dir` and loads them. */
export function clusterFrom(dir: string, config: string, inventory = LAB_INVENTORY): ClusterSpec {
  const inventoryFile = join(dir, 'inventory.yaml');
  const configFile = join(dir, 'config.properties');
  writeFileSync(inventoryFile, inventory);
  writeFileSync(configFile, config);
  return loadClusterSpec({ inventoryFile, configFile });
}
