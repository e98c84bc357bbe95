/**
 * `npm run demo`: a fresh 3-host lab named `demo` (its own bridge and subnet, so it coexists with the
 * e2e lab), an inventory and a config for it, then kubestrap on it: render, plan, init, health, and a
 * second apply that changes nothing. Each step is one CLI command run from the repo root; the lab's
 * offline bundle stands in for the downloads (the lab has no network).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describeBundle, labBundle, labBundleRecord } from './bundle.js';
import { writeLabConfig } from './cluster-config.js';
import { labDown, labUp, writeInventory, type LabInfo } from './index.js';
import { REPO_ROOT } from './paths.js';

const LAB = 'demo';

interface Step {
  title: string;
  /** argv run with node from the repo root; {inventory}, {config}, {bundle} and {out} are replaced. */
  argv: string[];
}

const cluster = (command: string, ...extra: string[]) => ['bin/bootstrap.js', ...command.split(' '), '-i', '{inventory}', '-c', '{config}', ...extra];

const STEPS: Step[] = [
  { title: "render every host's files from the inventory and config.properties (touches no host)", argv: cluster('render', '--out', '{out}') },
  { title: 'plan: everything a fresh cluster needs, per host (touches nothing)', argv: cluster('plan', '--bundle', '{bundle}') },
  {
    title: 'init: OS, container runtime, binaries, PKI, etcd, control plane, kubelets and kube-proxy, flannel, CoreDNS; every node Ready',
    argv: cluster('init', '--yes', '--bundle', '{bundle}'),
  },
  { title: 'health: every component on every host, and the cluster as the API server sees it', argv: cluster('health') },
  { title: 'health --deep: a pod on every node resolves cluster DNS, reaches a pod on another node and a Service', argv: cluster('health', '--deep') },
  { title: 'apply again: nothing left to change, nothing restarted', argv: cluster('apply', '--bundle', '{bundle}') },
  { title: 'certs check: every certificate, who holds it and when it expires', argv: cluster('certs check') },
];

function runStep(step: Step, vars: Record<string, string>): boolean {
  const argv = step.argv.map((a) => a.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? `{${k}}`));
  console.log(`$ node ${argv.join(' ')}`);
  const r = spawnSync(process.execPath, argv, { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    console.log(`FAILED (exit ${r.status ?? r.signal})`);
    return false;
  }
  return true;
}

async function main(): Promise<void> {
  // A demo starts from fresh hosts: an earlier demo's cluster would make init refuse, rightly.
  await labDown(LAB);
  console.log(`== bringing up lab '${LAB}' with 3 hosts`);
  const lab: LabInfo = await labUp({ name: LAB, hosts: 3 });
  for (const h of lab.hosts) console.log(`   ${h.name.padEnd(8)} ${h.address}`);
  const inventory = path.join(lab.stateDir, 'inventory.yaml');
  await writeInventory(lab, inventory);
  const config = path.join(lab.stateDir, 'config.properties');
  const bundle = await labBundle();
  writeLabConfig(config, bundle);
  console.log(`== inventory: ${inventory} (node1 etcd and master, the others workers)`);
  console.log(`== config:    ${config} (config.example.properties with the bundle's versions)`);
  console.log(`== bundle:    ${bundle}`);
  console.log(`             ${describeBundle(labBundleRecord(bundle))}`);
  const out = path.join(lab.stateDir, 'out');
  const results: boolean[] = [];
  for (const [i, step] of STEPS.entries()) {
    console.log(`\n== step ${i + 1}/${STEPS.length}: ${step.title}`);
    const ok = runStep(step, { inventory, config, bundle, out });
    results.push(ok);
    // Later steps build on earlier ones: stop at the first failure.
    if (!ok) break;
  }
  console.log(`\n== done: ${results.filter(Boolean).length}/${STEPS.length} provisioner steps succeeded`);
  if (results.length < STEPS.length || !results.every(Boolean)) process.exitCode = 1;
  console.log(`kubectl:    ssh -i ${lab.sshKey} -o UserKnownHostsFile=${lab.knownHosts} root@${lab.hosts[0]?.address ?? '<ip>'} "bash -lc 'kubectl get nodes'"`);
  console.log(`tear down:  npm run lab -- down --name ${LAB}`);
}

main().catch((e: unknown) => {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
