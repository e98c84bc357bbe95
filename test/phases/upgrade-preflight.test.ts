import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../src/engine/facts.js';
import { parsePhaseRecords, phaseRecordLine } from '../../src/engine/host-record.js';
import { UpgradeError } from '../../src/errors.js';
import type { ClusterContext } from '../../src/phases/context.js';
import { recordedVersions, upgradeProblems } from '../../src/phases/upgrade-preflight.js';
import type { KubestrapError } from '../../src/errors.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: up
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master, worker] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
`;

/** The record a host has after a run at these versions: the phase entries as the engine writes them. */
function recordAt(kube: string, etcd: string, phases: readonly string[]) {
  const fields = (phase: string) => ({ cluster: 'up', kubernetes: kube, ...(phase === 'etcd' ? { etcd } : {}) });
  return parsePhaseRecords(phases.map((p) => phaseRecordLine(p, [], {}, fields(p))).join('\n'));
}

/** Each refusal's rule: every problem must be an upgrade refusal. */
const rules = (problems: KubestrapError[]) => problems.map((p) => (p instanceof UpgradeError ? p.rule : `not an upgrade refusal: ${p.format()}`));

describe('upgrade rules in the preflight of plan and apply', () => {
  const tmp = useTempDir();
  function context(config: string, phases?: string[]): ClusterContext {
    const spec = clusterFrom(tmp(), config, INVENTORY);
    const hosts = spec.hosts.map((host) => {
      const recorded = host.name === 'm1' ? ['etcd', 'control-plane', 'workers'] : ['workers'];
      return { host, facts: { ...parseFacts(''), record: recordAt('v1.35.0', 'v3.5.30', recorded) }, os: undefined as never, files: [] };
    });
    return { spec, mode: 'plan', hosts, ...(phases ? { phases } : {}) };
  }

  it('reads the versions a host runs from its record', () => {
    const ctx = context('KUBE_VERSION=v1.36.0\n');
    expect(Object.fromEntries(Object.entries(recordedVersions(ctx.hosts[0]!.facts)).map(([c, v]) => [c, v.tag]))).toEqual({ etcd: 'v3.5.30', 'control-plane': 'v1.35.0', node: 'v1.35.0' });
  });

  it('lets one minor up through, and refuses a skip naming the config key, the hosts and the version to stop at', () => {
    expect(upgradeProblems(context('KUBE_VERSION=v1.36.0\nETCD_VERSION=v3.5.30\n'))).toEqual([]);
    const problems = upgradeProblems(context('KUBE_VERSION=v1.37.0\nETCD_VERSION=v3.5.30\n'));
    expect(rules(problems)).toEqual(['kubernetes-minor-skip', 'kubernetes-minor-skip']);
    expect(problems[1]!.format()).toMatch(/config\.properties KUBE_VERSION \(upgrade rule kubernetes-minor-skip; m1, w1\)/);
    expect(problems[0]!.hint).toContain('KUBE_VERSION=v1.36.0');
  });

  it('refuses a downgrade across minors and an etcd minor skip', () => {
    const found = rules(upgradeProblems(context('KUBE_VERSION=v1.34.7\nETCD_VERSION=v3.7.0\n')));
    expect(found).toEqual(['kubernetes-downgrade', 'kubernetes-downgrade', 'etcd-minor-skip']);
  });

  it('judges the nodes against the masters as the run leaves them: without the control-plane phase, a kubelet may not pass them', () => {
    const config = 'KUBE_VERSION=v1.36.0\nETCD_VERSION=v3.5.30\n';
    expect(rules(upgradeProblems(context(config, ['workers'])))).toEqual(['kubelet-newer-than-apiserver']);
    expect(upgradeProblems(context(config, ['control-plane', 'workers']))).toEqual([]);
  });

  it('refuses a skip in a run of the artifacts phase alone, which replaces the binaries', () => {
    const found = rules(upgradeProblems(context('KUBE_VERSION=v1.37.0\n', ['artifacts'])));
    expect(found).toContain('kubernetes-minor-skip');
    expect(upgradeProblems(context('KUBE_VERSION=v1.37.0\n', ['os']))).toEqual([]);
  });
});
