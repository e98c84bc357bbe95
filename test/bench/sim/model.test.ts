import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterSpec } from '../../../src/config/cluster-spec.js';
import { parseBatch, batchScript } from '../../../src/engine/batch.js';
import { parseFacts } from '../../../src/engine/facts.js';
import { diffResources, parseProbe, probeScript } from '../../../src/engine/probe.js';
import { localPkiStore } from '../../../src/pki/store.js';
import { reconcilePki } from '../../../src/pki/reconcile.js';
import { writeSimCluster, type SimCluster } from './cluster.js';
import { simModel, type SimAnswers } from './model.js';
import { answer } from './server.js';

let dir: string;
let cluster: SimCluster;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ks-sim-'));
  cluster = writeSimCluster(dir, 4, 40000);
  // A converged cluster has its PKI in the state folder, as the first run left it.
  const spec = loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config });
  await (await reconcilePki(spec, localPkiStore(spec), { now: new Date() })).persist();
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The engine's diff of a host's resources against what the simulated host answers to their probe. */
function diffOf(host: SimAnswers, fresh?: SimAnswers) {
  const { resources, packages } = host.desired!;
  const { stdout, code } = answer(probeScript(resources, { packages }), fresh ?? host);
  expect(code).toBe(0);
  return diffResources(resources, parseProbe(stdout, resources), { packages });
}

describe('the simulated host', () => {
  it('answers a converged host: the engine finds nothing to change in any phase', async () => {
    const { answers } = await simModel({ inventory: cluster.inventory, config: cluster.config, phases: ['os', 'pki'], fresh: new Set() });
    expect(answers.size).toBe(4);
    for (const host of answers.values()) {
      expect(host.desired!.resources.length).toBeGreaterThan(20);
      expect(diffOf(host).map((c) => c.summary)).toEqual([]);
    }
  }, 60_000);

  it('answers a fresh host: every resource the run wants changes', async () => {
    const { answers } = await simModel({ inventory: cluster.inventory, config: cluster.config, phases: ['os', 'pki'], fresh: new Set(['sim0003']) });
    const fresh = answers.get('sim0003')!;
    expect(fresh.probe).toBeUndefined();
    expect(parseFacts(answer("printf '\\n@@kubestrap-section-ab %s\\n' 'os-release'\n", fresh).stdout).record.size).toBe(0);
    // Its desired state is a converged host's of the same role (workers differ by name only).
    const changes = diffOf(answers.get('sim0002')!, fresh);
    expect(changes.length).toBeGreaterThan(10);
  }, 60_000);

  it('does every step of an apply batch, and says each one succeeded', () => {
    const { stdout } = answer(batchScript(['true', 'true', 'true']), { facts: new Map() });
    expect(parseBatch(stdout).map((s) => s.exitCode)).toEqual([0, 0, 0]);
  });
});
