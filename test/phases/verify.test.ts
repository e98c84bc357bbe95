import { describe, expect, it } from 'vitest';
import type { ClusterContext } from '../../src/phases/context.js';
import { NODES_READY_TIMEOUT_SEC, verifyPhase } from '../../src/phases/verify.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
  - { name: w2, address: 10.0.0.13, roles: [worker] }
`;

describe('verify phase', () => {
  const tmp = useTempDir();

  function action() {
    const spec = clusterFrom(tmp(), 'KUBE_VERSION=v1.35.0\n', INVENTORY);
    const hosts = spec.hosts.map((host) => ({ host }) as ClusterContext['hosts'][number]);
    const [wait] = verifyPhase.clusterActions!({ spec, mode: 'apply', hosts });
    return { spec, wait: wait! };
  }

  it('waits on a master for the nodes of the hosts still fine, not for one that failed or was down', () => {
    const { spec, wait } = action();
    expect(wait.candidates).toEqual(['m1']);
    const script = (s: typeof wait.run, live: string[]) => (typeof s === 'string' ? s : s(spec.hosts[0]!, live));
    expect(script(wait.run, ['m1', 'w1', 'w2'])).toMatch(/for n in w1 w2; do/);
    expect(script(wait.run, ['m1', 'w2'])).toMatch(/for n in w2; do/);
    expect(script(wait.check, ['m1', 'w1'])).toMatch(/for n in w1; do/);
  });

  it('has a time limit longer than its own wait, so its message (which nodes) is what the operator sees', () => {
    expect(action().wait.timeoutSec).toBeGreaterThan(NODES_READY_TIMEOUT_SEC);
  });
});
