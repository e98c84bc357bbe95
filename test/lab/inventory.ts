import fs from 'node:fs';
import path from 'node:path';
import type { LabInfo } from './state.js';

export interface InventoryOptions {
  /** Roles per host name; hosts not listed get the default (first host etcd+master, others worker). */
  roles?: Record<string, string[]>;
  /** Default root. The lab key logs in as root, ops (passwordless sudo) and opspw (sudo with password). */
  sshUser?: string;
  /** Only these hosts (by name); default all. */
  hosts?: string[];
}

/** An inventory in the product's YAML format for the lab's hosts, so tests drive the real CLI with it. */
export async function writeInventory(lab: LabInfo, file: string, opts: InventoryOptions = {}): Promise<void> {
  const hosts = opts.hosts ? lab.hosts.filter((h) => opts.hosts?.includes(h.name)) : lab.hosts;
  const lines = [
    `cluster: ${lab.name}`,
    'ssh:',
    `  user: ${opts.sshUser ?? 'root'}`,
    `  keyFile: ${path.resolve(lab.sshKey)}`,
    `  knownHosts: ${path.resolve(lab.knownHosts)}`,
    'hosts:',
  ];
  hosts.forEach((h, i) => {
    const roles = opts.roles?.[h.name] ?? (i === 0 ? ['etcd', 'master'] : ['worker']);
    lines.push(`  - name: ${h.name}`, `    address: ${h.address}`, `    roles: [${roles.join(', ')}]`);
  });
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}
