/**
 * `npm run demo`: a 3-host lab named `demo` (its own bridge and subnet, so it coexists with the e2e
 * lab), an inventory for it, and whatever the provisioner can do so far, run against it.
 * Extend STEPS as the product grows; each step is one command run from the repo root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { labUp, writeInventory, type LabInfo } from './index.js';
import { REPO_ROOT } from './paths.js';

const LAB = 'demo';

interface Step {
  title: string;
  /** argv run with node from the repo root; {inventory} and {out} are replaced. */
  argv: string[];
  /** Files that must exist first (e.g. the built CLI); a missing one skips the step with a message. */
  needs: string[];
}

const CLI = ['dist/cli/main.js', 'config.example.properties'];
const cluster = (command: string, ...extra: string[]) => ['bin/bootstrap.js', command, '-i', '{inventory}', '-c', 'config.example.properties', ...extra];

const STEPS: Step[] = [
  {
    title: 'render every host\'s files from the inventory and config.example.properties (touches no host)',
    argv: cluster('render', '--out', '{out}'),
    needs: CLI,
  },
  {
    title: 'plan: what apply would change on the fresh hosts (firewalld running, swap in fstab)',
    argv: cluster('plan'),
    needs: CLI,
  },
  {
    title: 'apply: firewall off, swap off, modules, sysctls, FORWARD policy, hostnames, /etc/hosts; the cluster\'s CAs, certificates and kubeconfigs',
    argv: cluster('apply'),
    needs: CLI,
  },
  {
    title: 'apply again: nothing left to change, nothing restarted',
    argv: cluster('apply'),
    needs: CLI,
  },
];

function runStep(step: Step, vars: Record<string, string>): boolean {
  const missing = step.needs.filter((f) => !fs.existsSync(path.join(REPO_ROOT, f)));
  if (missing.length > 0) {
    console.log(`SKIPPED: ${missing.join(', ')} not there yet (run 'npm run build' first?)`);
    return false;
  }
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
  console.log(`== bringing up lab '${LAB}' with 3 hosts`);
  const lab: LabInfo = await labUp({ name: LAB, hosts: 3 });
  for (const h of lab.hosts) console.log(`   ${h.name.padEnd(8)} ${h.address}`);
  const inventory = path.join(lab.stateDir, 'inventory.yaml');
  await writeInventory(lab, inventory);
  console.log(`== inventory written: ${inventory}`);
  const out = path.join(lab.stateDir, 'out');
  const results: boolean[] = [];
  for (const [i, step] of STEPS.entries()) {
    console.log(`\n== step ${i + 1}/${STEPS.length}: ${step.title}`);
    const ok = runStep(step, { inventory, out });
    results.push(ok);
    // Later steps build on earlier ones: stop at the first failure.
    if (!ok) break;
  }
  console.log(`\n== done: ${results.filter(Boolean).length}/${STEPS.length} provisioner steps succeeded`);
  console.log('not yet in kubestrap: the runtime, etcd, control plane, flannel and worker phases (see README)');
  if (results.length < STEPS.length || !results.every(Boolean)) process.exitCode = 1;
  console.log(`inventory:  ${inventory}`);
  console.log(`ssh:        ssh -i ${lab.sshKey} -o UserKnownHostsFile=${lab.knownHosts} root@${lab.hosts[0]?.address ?? '<ip>'}`);
  console.log(`tear down:  npm run lab -- down --name ${LAB}`);
}

main().catch((e: unknown) => {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
