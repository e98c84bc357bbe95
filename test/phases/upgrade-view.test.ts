import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../src/engine/facts.js';
import { parsePhaseRecords, phaseRecordLine } from '../../src/engine/host-record.js';
import { upgradeLines } from '../../src/cli/output/upgrade-text.js';
import type { ClusterContext, KubestrapPhase } from '../../src/phases/context.js';
import { controlPlanePhase } from '../../src/phases/control-plane.js';
import { etcdPhase } from '../../src/phases/etcd.js';
import { upgradeSteps } from '../../src/phases/upgrade-view.js';
import { workersPhase } from '../../src/phases/workers.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: up
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: m2, address: 10.0.0.12, roles: [etcd, master] }
  - { name: m3, address: 10.0.0.13, roles: [etcd, master, worker] }
  - { name: w1, address: 10.0.0.14, roles: [worker] }
  - { name: w2, address: 10.0.0.15, roles: [worker] }
`;

/** The runtime phase as the view sees it: the containerd it records for this run. */
const runtime: KubestrapPhase = {
  name: 'runtime',
  title: 'runtime',
  appliesTo: (h) => h.roles.includes('worker') || h.roles.includes('master'),
  resources: () => [],
  record: () => ({ containerd: 'v2.1.9' }),
};
const PHASES = [runtime, etcdPhase, controlPlanePhase, workersPhase];

/** A host's record after a run at these versions (the phases its roles have), and containerd as installed. */
function factsAt(roles: readonly string[], kube: Record<string, string>, etcd: string, containerd: string) {
  const phases = ['runtime', ...(roles.includes('etcd') ? ['etcd'] : []), ...(roles.includes('master') ? ['control-plane'] : []), ...(roles.includes('worker') ? ['workers'] : [])];
  const fields = (p: string) => ({ cluster: 'up', kubernetes: kube[p] ?? kube.all!, ...(p === 'etcd' ? { etcd } : {}) });
  const facts = { ...parseFacts(''), record: parsePhaseRecords(phases.map((p) => phaseRecordLine(p, [], {}, fields(p))).join('\n')) };
  facts.extra = { runtime: `cgroup cgroup2fs\ninstalled-containerd containerd containerd.io ${containerd} abc\ninstalled-from docker\ninstalled-dockerd yes` };
  return facts;
}

describe('the upgrade as plan shows it', () => {
  const tmp = useTempDir();
  function context(config: string, kube: (host: string) => Record<string, string> = () => ({ all: 'v1.35.0' }), containerd = '1.7.28'): ClusterContext {
    const spec = clusterFrom(tmp(), config, INVENTORY);
    const hosts = spec.hosts.map((host) => ({ host, facts: factsAt(host.roles, kube(host.name), 'v3.5.21', containerd), os: undefined as never, files: [] }));
    return { spec, mode: 'plan', hosts };
  }

  it('lists what moves in the order the run moves it, each with its hosts, versions and how', () => {
    const ctx = context('KUBE_VERSION=v1.36.0\nETCD_VERSION=v3.6.5\n');
    const steps = upgradeSteps(ctx, PHASES, 2);
    expect(upgradeLines(steps)).toEqual([
      '== upgrade ==',
      'containerd v1.7.28 -> v2.1.9: m1, m2 (restarted in the runtime phase, before etcd)',
      'etcd v3.5.21 -> v3.6.5: m1, m2, m3 (one member at a time, each healthy before the next)',
      'kube-apiserver v1.35.0 -> v1.36.0: m1, m2, m3 (one master at a time, each ready before the next)',
      'kube-controller-manager, kube-scheduler v1.35.0 -> v1.36.0: m1, m2, m3 (one master at a time, once every API server runs the new version)',
      "containerd v1.7.28 -> v2.1.9: m3, w1, w2 (in each node's drain, before its kubelet)",
      'kubelet, kube-proxy v1.35.0 -> v1.36.0: m3, w1, w2 (each node drained, 2 at a time, then uncordoned once Ready)',
    ]);
    expect(steps[1]).toEqual({ components: 'etcd', to: 'v3.6.5', hosts: ['m1', 'm2', 'm3'].map((host) => ({ host, from: 'v3.5.21' })), how: 'one member at a time, each healthy before the next' });
  });

  it('leaves out what does not move, and a run stopped halfway goes on with the hosts left, each from its own version', () => {
    const ctx = context('KUBE_VERSION=v1.36.0\nETCD_VERSION=v3.5.21\n', (h) => (h === 'm1' ? { all: 'v1.36.0' } : h === 'm2' ? { all: 'v1.35.1' } : { all: 'v1.35.0' }), '2.1.9');
    expect(upgradeLines(upgradeSteps(ctx, PHASES))).toEqual([
      '== upgrade ==',
      'kube-apiserver v1.35.1, v1.35.0 -> v1.36.0: m2 (v1.35.1), m3 (v1.35.0) (one master at a time, each ready before the next)',
      'kube-controller-manager, kube-scheduler v1.35.1, v1.35.0 -> v1.36.0: m2 (v1.35.1), m3 (v1.35.0) (one master at a time, once every API server runs the new version)',
      'kubelet, kube-proxy v1.35.0 -> v1.36.0: m3, w1, w2 (each node drained, 1 at a time, then uncordoned once Ready)',
    ]);
  });

  it('is empty at the running versions, keeps to --limit and to the phases of the run', () => {
    expect(upgradeSteps(context('KUBE_VERSION=v1.35.0\nETCD_VERSION=v3.5.21\n', undefined, '2.1.9'), PHASES)).toEqual([]);
    const ctx = context('KUBE_VERSION=v1.36.0\nETCD_VERSION=v3.5.21\n', undefined, '2.1.9');
    expect(upgradeSteps(ctx, PHASES, 1, ['w1']).map((s) => [s.components, s.hosts.map((h) => h.host)])).toEqual([['kubelet, kube-proxy', ['w1']]]);
    // Without the workers phase nobody drains: containerd restarts where it is installed.
    const runtimeOnly = upgradeSteps(context('', undefined, '1.7.28'), [runtime]);
    expect(runtimeOnly.map((s) => [s.components, s.hosts.map((h) => h.host), s.how])).toEqual([['containerd', ['m1', 'm2', 'm3', 'w1', 'w2'], 'restarted in the runtime phase, before etcd']]);
  });
});
