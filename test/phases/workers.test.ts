import { describe, expect, it } from 'vitest';
import { planRestarts } from '../../src/engine/handlers.js';
import type { ServiceResource } from '../../src/engine/resource.js';
import { detectOs } from '../../src/os/detect.js';
import { workersPhase } from '../../src/phases/workers.js';
import { factsFor } from '../os/os-releases.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: up
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
`;

describe('the workers phase', () => {
  const tmp = useTempDir();

  function services(): ServiceResource[] {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    const facts = factsFor('debian12');
    const host = spec.hosts.find((h) => h.name === 'w1')!;
    return workersPhase.resources({ spec, host, facts, os: detectOs(host.name, facts), files: [] }).filter((r): r is ServiceResource => r.kind === 'service');
  }

  it("feeds containerd and Docker before it runs the kubelet: a restart the runtime owes goes first in the node's drain", () => {
    const found = services();
    expect(found.map((s) => [s.name, s.running ?? null])).toEqual([
      ['containerd', null],
      ['docker', null],
      ['kubelet', true],
      ['kube-proxy', true],
    ]);
    // Waited on as the runtime phase waits on it, before the kubelet starts talking to it.
    expect(found[0]!.ready?.check).toBe('ctr version');
  });

  it('restarts an owed runtime (try-restart: only if it runs), containerd then Docker, before the kubelet', () => {
    const resources = services();
    const plan = planRestarts(resources, [], ['kubelet', 'docker', 'containerd']);
    expect(plan.restarts.map((r) => [r.service, r.managed])).toEqual([
      ['containerd', false],
      ['docker', false],
      ['kubelet', true],
    ]);
  });
});
