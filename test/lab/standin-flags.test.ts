import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REMOVED_FLAGS } from '../../src/upstream/index.js';
import { skipUnlessAvailable } from '../support/prerequisites.js';
import { useTempDir } from '../support/tmp.js';
import { bakedStandin, standinFlagTables } from './bundle.js';

const python = (() => {
  try {
    execFileSync('python3', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * The stand-ins' removed and deprecated flags come from src/upstream/kube-flags.ts, baked in when the
 * lab bundle is built: a baked stand-in refuses what the table removed and warns about what it
 * deprecated, from the version the table says.
 */
describe.skipIf(skipUnlessAvailable(python, 'python3 (to run a baked stand-in)'))('stand-ins baked with the flag tables of src/upstream', () => {
  const tmp = useTempDir();
  const standin = (component: string, version: string): string => {
    const file = join(tmp(), component);
    writeFileSync(file, bakedStandin(component, version, 'v0.28.9'), { mode: 0o755 });
    return file;
  };
  const run = (file: string, ...args: string[]) => {
    const r = spawnSync('python3', [file, ...args], { encoding: 'utf8' });
    return { code: r.status, output: r.stdout + r.stderr };
  };

  it('hold every flag of the table, by the minor it was removed or deprecated in', () => {
    const file = standin('kubelet', 'v1.37.1');
    const load = [
      'import importlib.machinery, importlib.util, json',
      `loader = importlib.machinery.SourceFileLoader("standin", ${JSON.stringify(file)})`,
      'module = importlib.util.module_from_spec(importlib.util.spec_from_loader("standin", loader))',
      'loader.exec_module(module)',
      'print(json.dumps({"removed": module.REMOVED, "deprecated": module.DEPRECATED}))',
    ].join('\n');
    const baked = JSON.parse(execFileSync('python3', ['-c', load], { encoding: 'utf8' })) as ReturnType<typeof standinFlagTables>;
    expect(baked).toEqual(standinFlagTables());
    for (const [component, flags] of Object.entries(REMOVED_FLAGS)) {
      for (const f of flags) expect(baked[f.status][component]?.[f.flag.slice(2)]?.[0], `${component} ${f.flag}`).toBeLessThanOrEqual(Number(f.removedIn.split('.')[1]));
    }
  });

  it('refuse a removed flag from the release that removed it, and accept it the release before', () => {
    const refused = run(standin('kube-scheduler', 'v1.26.0'), '--logtostderr=true', '--version');
    expect([refused.code, refused.output]).toEqual([1, expect.stringContaining('Error: unknown flag: --logtostderr')]);
    const accepted = run(standin('kube-scheduler', 'v1.25.0'), '--logtostderr=true', '--version');
    expect([accepted.code, accepted.output]).toEqual([0, 'Kubernetes v1.25.0\n']);
  });

  it('warn about a deprecated flag and carry on, until the release that removed it', () => {
    const warned = run(standin('kubelet', 'v1.34.0'), '--pod-infra-container-image=x', '--version');
    expect(warned.code).toBe(0);
    expect(warned.output).toContain('Flag --pod-infra-container-image has been deprecated');
    expect(run(standin('kubelet', 'v1.35.0'), '--pod-infra-container-image=x', '--version').code).toBe(1);
  });
});
