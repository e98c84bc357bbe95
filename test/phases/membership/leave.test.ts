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
    const drain = actions[0]!.run as (h: HostSpec, live: readonly string[]) => string;
    expect(drain(spec.hosts[0]!, [])).toContain('drain n3 --ignore-daemonsets --delete-emptydir-data --timeout=120s');
    // The teardown applies to the leaving hosts alone, and removes etcd's data with its member.
    expect(teardown.map((p) => p.appliesTo(spec.leaving[0]!))).toEqual(teardown.map(() => true));
    expect(teardown.map((p) => p.appliesTo(spec.hosts[0]!))).toEqual(teardown.map(() => false));
    expect(teardown.map((p) => p.name)).toContain('reset-etcd');
  });

  it('a forgotten host: its Node is deleted without a drain (its kubelet cannot confirm anything)', () => {
    const [membership] = leavePhases(spec, ['n4']);
    const forgotten = membership!.clusterActions!(ctx).find((a) => a.name === 'node-gone:n4')!;
    const run = (forgotten.run as (h: HostSpec, live: readonly string[]) => string)(spec.hosts[0]!, []);
    expect(run).not.toContain('drain');
    expect(run).toContain('delete node n4');
  });

  it('bring-up phases ignore them', () => {
    const phase = forRemainingHosts(etcdPhase);
    expect(phase.ignores!(spec.leaving[0]!)).toBe(true);
    expect(phase.ignores!(spec.hosts[0]!)).toBe(false);
  });
});
