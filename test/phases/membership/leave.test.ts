import { describe, expect, it } from 'vitest';
import type { ClusterSpec, HostSpec } from '../../../src/config/cluster-spec.js';
import { forRemainingHosts, leavePhases } from '../../../src/phases/membership/leave.js';
import { etcdPhase } from '../../../src/phases/etcd.js';

function host(name: string, roles: HostSpec['roles'], leaving = false): HostSpec {
  return {
    name,
    address: `10.0.0.${name.slice(1)}`,
    nodeIp: `10.0.0.${name.slice(1)}`,
    roles,
    ssh: {} as never,
    values: { BIN_PATH: '/opt/kube/bin' },
    ...(leaving ? { leaving: true as const } : {}),
  };
}

const spec = {
  name: 'lab',
  hosts: [host('n1', ['etcd', 'master', 'worker']), host('n2', ['etcd', 'master'])],
  leaving: [host('n3', ['etcd', 'master', 'worker'], true), host('n4', ['worker'], true)],
  values: {},
} as unknown as ClusterSpec;
const ctx = { spec, mode: 'plan' as const, hosts: [] };

describe('hosts marked remove: true', () => {
  it('leave in order: Node drained and deleted on a remaining master, etcd member removed on a remaining member, then the teardown', () => {
    const [membership, ...teardown] = leavePhases(spec, []);
    const actions = membership!.clusterActions!(ctx);
    expect(actions.map((a) => [a.name, a.candidates, a.when])).toEqual([
      ['node-gone:n3', ['n1', 'n2'], 'before'],
      ['etcd-member-remove:n3', ['n1', 'n2'], 'before'],
      ['node-gone:n4', ['n1', 'n2'], 'before'],
    ]);
    // Done by the controller through the API (node-gone.test.ts): nothing runs on the master.
    expect([actions[0]!.run, actions[0]!.check]).toEqual([undefined, undefined]);
    // The teardown applies to the leaving hosts alone, and removes etcd's data with its member.
    expect(teardown.map((p) => p.appliesTo(spec.leaving[0]!))).toEqual(teardown.map(() => true));
    expect(teardown.map((p) => p.appliesTo(spec.hosts[0]!))).toEqual(teardown.map(() => false));
    expect(teardown.map((p) => p.name)).toContain('reset-etcd');
  });

  it('bring-up phases ignore them', () => {
    const phase = forRemainingHosts(etcdPhase);
    expect(phase.ignores!(spec.leaving[0]!)).toBe(true);
    expect(phase.ignores!(spec.hosts[0]!)).toBe(false);
  });
});
