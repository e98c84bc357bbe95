import { afterAll, beforeAll, inject } from 'vitest';
import { addHosts, hostExec, removeHosts, type AddHostsOptions, type LabHost, type LabInfo } from '../../lab/index.js';
import './provided.js';

/** The e2e lab from global setup; throws in a test that runs although the suite was skipped. */
export function e2eLab(): LabInfo {
  const lab = inject('lab');
  if (!lab) throw new Error('no e2e lab: wrap the suite in describe.skipIf(!inject("lab"))');
  return lab;
}

/** True when global setup brought a lab up; use as `describe.skipIf(!labAvailable())`. */
export function labAvailable(): boolean {
  return inject('lab') !== null;
}

export interface LabHosts {
  readonly lab: LabInfo;
  /** The i-th host (throws before beforeAll ran or past the end). */
  host(i: number): LabHost;
  all(): LabHost[];
  /** `sh -c script` as root inside host i (via nsenter, no ssh). */
  exec(i: number, script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Like exec, but a non-zero exit fails with the script's output. */
  run(i: number, script: string): Promise<string>;
}

/**
 * Fresh hosts for one test file: added in beforeAll, removed in afterAll, so no file sees another
 * file's leftovers. Call at the top of a describe block. `{ flavour: 'el9' }` makes them Rocky
 * Linux 9 hosts, `{ flavour: ['el9', 'el7', 'debian'] }` one of each.
 */
export function useLabHosts(count: number, opts: AddHostsOptions = {}): LabHosts {
  const hosts: LabHost[] = [];
  let lab: LabInfo | undefined;
  beforeAll(async () => {
    lab = e2eLab();
    hosts.push(...(await addHosts(lab.name, count, opts)));
  });
  afterAll(async () => {
    if (lab && hosts.length > 0)
      await removeHosts(
        lab.name,
        hosts.map((h) => h.name),
      );
  });
  const host = (i: number): LabHost => {
    const h = hosts[i];
    if (!h) throw new Error(`lab host #${i} does not exist (this file has ${hosts.length}); is it used outside a test?`);
    return h;
  };
  const exec = (i: number, script: string) => hostExec(e2eLab().name, host(i).name, script);
  return {
    get lab() {
      return e2eLab();
    },
    host,
    all: () => [...hosts],
    exec,
    async run(i, script) {
      const r = await exec(i, script);
      if (r.code !== 0) throw new Error(`on ${host(i).name}: '${script}' exited ${r.code}\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
  };
}
