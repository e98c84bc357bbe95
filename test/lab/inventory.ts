import fs from 'node:fs';
import path from 'node:path';
import type { Flavour } from './flavours.js';
import type { LabInfo } from './state.js';

export interface InventoryOptions {
  /** Roles per host name; hosts not listed get the default (first host etcd+master, others worker). */
  roles?: Record<string, string[]>;
  /** Roles by position when `roles` does not name the host, e.g. every host etcd+master+worker. */
  layout?: (index: number) => string[];
  /** Default root. The lab key logs in as root, ops (passwordless sudo) and opspw (sudo with password). */
  sshUser?: string;
  /** Only these hosts (by name); default all. */
  hosts?: string[];
  /** Only hosts of these flavours; default all. */
  flavours?: Flavour[];
  /** Per-host property overrides (the inventory's `properties:`), by host name. */
  hostProperties?: Record<string, Record<string, string>>;
  /** Hosts marked `remove: true` (they leave the cluster on the next apply). */
  remove?: string[];
}

/** An inventory in the product's YAML format for the lab's hosts, so tests drive the real CLI with it. */
export async function writeInventory(lab: LabInfo, file: string, opts: InventoryOptions = {}): Promise<void> {
  const hosts = lab.hosts.filter((h) => (!opts.hosts || opts.hosts.includes(h.name)) && (!opts.flavours || opts.flavours.includes(h.flavour)));
  const lines = [`cluster: ${lab.name}`, 'ssh:', `  user: ${opts.sshUser ?? 'root'}`, `  keyFile: ${path.resolve(lab.sshKey)}`, `  knownHosts: ${path.resolve(lab.knownHosts)}`, 'hosts:'];
  hosts.forEach((h, i) => {
    const roles = opts.roles?.[h.name] ?? opts.layout?.(i) ?? (i === 0 ? ['etcd', 'master'] : ['worker']);
    // The product knows nothing of flavours; the comment is for whoever reads the file.
    lines.push(`  - name: ${h.name}  # lab flavour: ${h.flavour}`, `    address: ${h.address}`, `    roles: [${roles.join(', ')}]`);
    if (opts.remove?.includes(h.name)) lines.push('    remove: true');
    const properties = Object.entries(opts.hostProperties?.[h.name] ?? {});
    if (properties.length) lines.push('    properties:', ...properties.map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`));
  });
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}
