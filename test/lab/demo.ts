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

const STEPS: Step[] = [
  {
    title: 'render every host\'s files from the inventory and config.example.properties',
    argv: ['bin/bootstrap.js', 'render', '-i', '{inventory}', '-c', 'config.example.properties', '--out', '{out}'],
    needs: ['dist/cli/main.js', 'config.example.properties'],
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
    console.log(`FAILED (exit ${r.status ?? r.signal}): the provisioner is still being written; carrying on`);
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
  const results = STEPS.map((step, i) => {
    console.log(`\n== step ${i + 1}/${STEPS.length}: ${step.title}`);
    return runStep(step, { inventory, out });
  });
  console.log(`\n== done: ${results.filter(Boolean).length}/${STEPS.length} provisioner steps succeeded`);
  console.log(`inventory:  ${inventory}`);
  console.log(`ssh:        ssh -i ${lab.sshKey} -o UserKnownHostsFile=${lab.knownHosts} root@${lab.hosts[0]?.address ?? '<ip>'}`);
  console.log(`tear down:  npm run lab -- down --name ${LAB}`);
}

main().catch((e: unknown) => {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
