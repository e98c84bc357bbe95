import { cachedBundle } from './test/lab/bundle.ts';
import { labUp, writeInventory } from './test/lab/index.ts';
import { writeLabConfig } from './test/lab/cluster-config.ts';
import { mkdirSync } from 'node:fs';

const n = Number(process.argv[2] ?? 3);
const layout = process.argv[3] ?? 'all';
const only = process.argv[4] ? Number(process.argv[4]) : n;
const dir = '/work/coord/dev/cluster';
mkdirSync(dir, { recursive: true });
const lab = await labUp({ name: 'dev', hosts: n });
const roles: Record<string, string[]> = {};
lab.hosts.forEach((h, i) => (roles[h.name] = layout === 'all' ? ['etcd', 'master', 'worker'] : i === 0 ? ['etcd', 'master'] : ['worker']));
await writeInventory(lab, `${dir}/inventory.yaml`, { roles, hosts: lab.hosts.slice(0, only).map((h) => h.name) });
const bundle = await cachedBundle();
writeLabConfig(`${dir}/config.properties`, bundle);
console.log(JSON.stringify({ bundle, dir, hosts: lab.hosts.map((h) => [h.name, h.address]) }));
