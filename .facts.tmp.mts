import { loadClusterSpec } from './src/config/cluster-spec.ts';
import { factsScript } from './src/engine/facts.ts';
import { PHASES } from './src/phases/index.ts';
const spec = loadClusterSpec({ inventoryFile: '/var/lib/kubestrap-lab/demo/inventory.yaml', configFile: '/var/lib/kubestrap-lab/demo/config.properties' });
const host = spec.hosts.find((h) => h.name === process.argv[2])!;
const extra: Record<string, string> = {};
for (const p of PHASES) {
  if (p.name === 'artifacts' || p.name === 'pki') continue;
  const ph = p.build({} as never);
  const f = typeof ph.facts === 'function' ? ph.facts(host) : ph.facts;
  Object.assign(extra, f ?? {});
}
process.stdout.write(factsScript(extra));
