import { describe, expect, it } from 'vitest';
import { etcdAuthCheck, nodesCheck } from '../../src/health/checks.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
  - { name: w2, address: 10.0.0.13, roles: [worker] }
`;

const NODES = JSON.stringify({
  items: [
    { metadata: { name: 'w1' }, spec: { podCIDR: '172.20.1.0/24' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    { metadata: { name: 'w2' }, spec: {}, status: { conditions: [{ type: 'MemoryPressure', status: 'False' }] } },
  ],
});

describe('nodesCheck', () => {
  const tmp = useTempDir();
  const rows = (mode: string, output: string) => {
    const spec = clusterFrom(tmp(), `KUBE_VERSION=v1.35.0\nFLANNEL_MODE=${mode}\n`, INVENTORY);
    return nodesCheck(spec, spec.hosts[0]!).read(output).map((r) => [r.check, r.host, r.ok, r.detail]);
  };

  it('reads every worker\'s Ready condition from one list of nodes', () => {
    expect(rows('etcd', `0\n${NODES}`)).toEqual([
      ['node Ready', 'w1', true, 'Ready=True'],
      ['node Ready', 'w2', false, 'Ready=Unknown'],
    ]);
  });

  it('in kube mode reads each worker\'s podCIDR from the same list', () => {
    expect(rows('kube', `0\n${NODES}`).filter(([check]) => check === 'node podCIDR (flannel)')).toEqual([
      ['node podCIDR (flannel)', 'w1', true, '172.20.1.0/24'],
      ['node podCIDR (flannel)', 'w2', false, 'no podCIDR yet'],
    ]);
    expect(rows('kube', '1\nconnection refused').every(([, , ok, detail]) => ok === false && String(detail).includes('connection refused'))).toBe(true);
  });
});

describe('etcdAuthCheck', () => {
  const tmp = useTempDir();
  const rows = (output: string) => {
    const spec = clusterFrom(tmp(), '', INVENTORY);
    return etcdAuthCheck(spec, spec.hosts[0]!).read(output).map((r) => [r.ok, r.detail]);
  };

  it('is ok when the health check is refused a key outside its grants, and fails when it may read it (authentication off)', () => {
    expect(rows('1\n{"level":"warn"}\nError: etcdserver: permission denied')).toEqual([[true, 'on: each client reaches only its own keys']]);
    expect(rows('0\n')).toEqual([[false, expect.stringMatching(/^authentication is off: any client certificate of the etcd CA reads and writes every key/)]]);
    expect(rows('1\nError: context deadline exceeded')).toEqual([[false, 'etcdctl on m1: Error: context deadline exceeded']]);
  });
});
