import { describe, expect, it } from 'vitest';
import type { ClusterSpec, HostSpec } from '../../../src/config/cluster-spec.js';
import type { ClusterContext } from '../../../src/phases/context.js';
import { etcdJoinActions, joiningCluster } from '../../../src/phases/membership/etcd-join.js';
import { membershipProblems } from '../../../src/phases/membership/preflight.js';

/** Hosts n1..n5 at 10.0.0.1N; `leaving` ones are marked remove: true. */
function host(n: number, roles: HostSpec['roles'], leaving = false): HostSpec {
  return { name: `n${n}`, address: `10.0.0.1${n}`, nodeIp: `10.0.0.1${n}`, roles, ssh: {} as never, values: { BIN_PATH: '/opt/kube/bin' }, ...(leaving ? { leaving: true as const } : {}) };
}

const line = (n: number, started = true) => `${n}a, ${started ? 'started' : 'unstarted'}, ${started ? `n${n}` : ''}, https://10.0.0.1${n}:2380, https://10.0.0.1${n}:2379, false`;

interface Seen {
  /** Members in the list this host's etcd reports (undefined: it did not answer). */
  members?: number[];
  data?: boolean;
}

function ctx(staying: HostSpec[], leaving: HostSpec[], seen: Record<string, Seen>): ClusterContext {
  const spec = { name: 'lab', hosts: staying, leaving, values: { ETCD_INITIAL_CLUSTER: 'n1=https://10.0.0.11:2380' } } as unknown as ClusterSpec;
  const hosts = [...staying, ...leaving]
    .filter((h) => seen[h.name])
    .map((h) => {
      const s = seen[h.name]!;
      // No answer: the controller's request failed, so the fact has no output at all.
      const extra = { ...(s.members ? { 'etcd-members': s.members.map((n) => line(n)).join('\n') } : {}), 'etcd-data': s.data ? 'member\n{"cluster":"lab"}' : '' };
      return { host: h, facts: { extra, record: new Map() } as never, os: {} as never, files: [] };
    });
  return { spec, mode: 'apply', hosts };
}

const etcd = (n: number, leaving = false) => host(n, ['etcd'], leaving);
const up = (members: number[]) => ({ members, data: true });

describe('membership preflight', () => {
  it('refuses a host to remove that does not answer, naming --forget; forgotten, it passes', () => {
    const c = ctx([etcd(1), etcd(2)], [etcd(3, true)], { n1: up([1, 2, 3]), n2: up([1, 2, 3]) });
    expect(membershipProblems(c, []).map((e) => e.format())).toEqual([expect.stringMatching(/^n3: is marked remove: true but did not answer[\s\S]*apply --forget n3/)]);
    expect(membershipProblems(c, ['n3'])).toEqual([]);
  });

  it('refuses two etcd changes in one run, saying to apply one at a time', () => {
    const c = ctx([etcd(1), etcd(2), etcd(4)], [etcd(3, true)], { n1: up([1, 2, 3]), n2: up([1, 2, 3]), n3: up([1, 2, 3]), n4: {} });
    const [problem] = membershipProblems(c, []).map((e) => e.format());
    expect(problem).toMatch(/2 etcd membership changes in one run \(add n4, remove n3\)/);
    expect(problem).toMatch(/apply one change at a time/);
  });

  it('refuses a removal that loses the quorum, counting members that do not answer', () => {
    // n3 is down: of n1, n2, n3 two answer; without n2 one of two would.
    const c = ctx([etcd(1), etcd(3)], [etcd(2, true)], { n1: up([1, 2, 3]), n2: up([1, 2, 3]), n3: { data: true } });
    expect(membershipProblems(c, []).map((e) => e.format())).toEqual([expect.stringContaining('removing etcd member n2 is refused: the cluster would lose its quorum. Now: 3 members, 2 answering')]);
  });

  it('lets a host that was never a member go with nothing to check, and a single change through', () => {
    expect(membershipProblems(ctx([etcd(1), etcd(2), etcd(3)], [host(5, ['worker'], true)], { n1: up([1, 2, 3]), n2: up([1, 2, 3]), n3: up([1, 2, 3]), n5: {} }), [])).toEqual([]);
    expect(membershipProblems(ctx([etcd(1), etcd(2), etcd(3), etcd(4)], [], { n1: up([1, 2, 3]), n2: up([1, 2, 3]), n3: up([1, 2, 3]), n4: {} }), [])).toEqual([]);
  });

  it('refuses a join while no member answers a cluster that has data', () => {
    const c = ctx([etcd(1), etcd(2)], [], { n1: { data: true }, n2: {} });
    expect(membershipProblems(c, []).map((e) => e.format())).toEqual([expect.stringContaining('no etcd member answered the member list')]);
  });
});

describe('etcd join steps', () => {
  it('a new cluster: every member founds it (state new), on itself', () => {
    const actions = etcdJoinActions(ctx([etcd(1), etcd(2)], [], { n1: {}, n2: {} }));
    expect(actions.map((a) => [a.name, a.candidates])).toEqual([
      ['etcd-initial-cluster:n1', ['n1']],
      ['etcd-initial-cluster:n2', ['n2']],
    ]);
    expect(actions[0]!.run).toContain('ETCD_INITIAL_CLUSTER_STATE=new');
  });

  it('a cluster that answers: member add by the controller, then the file on the new host only', () => {
    const actions = etcdJoinActions(ctx([etcd(1), etcd(2), etcd(3)], [], { n1: up([1, 2]), n2: up([1, 2]), n3: {} }));
    expect(actions.map((a) => [a.name, a.candidates, a.when])).toEqual([
      ['etcd-member-add:n3', ['n3'], 'before'],
      ['etcd-initial-cluster:n3', ['n3'], 'before'],
    ]);
    const [add, file] = actions;
    // The member add is the controller's request: nothing for the host to run.
    expect([add!.check, add!.run, typeof add!.query, typeof add!.apply]).toEqual([undefined, undefined, 'function', 'function']);
    expect(add!.description).toContain('member add n3 --peer-urls=https://10.0.0.13:2380');
    const run = file!.run as string;
    expect(run).toContain('ETCD_INITIAL_CLUSTER=n1=https://10.0.0.11:2380,n2=https://10.0.0.12:2380,n3=https://10.0.0.13:2380\nETCD_INITIAL_CLUSTER_STATE=existing');
    expect(run).not.toMatch(/etcdctl|rm -rf/);
    expect(etcdJoinActions(ctx([etcd(1), etcd(2)], [], { n1: up([1, 2]), n2: up([1, 2]) }))).toEqual([]);
  });

  it('a host with data of a member the cluster no longer has: its etcd stops and the data goes before the file', () => {
    const actions = etcdJoinActions(ctx([etcd(1), etcd(2), etcd(3)], [], { n1: up([1, 2]), n2: up([1, 2]), n3: { data: true } }));
    expect(actions.map((a) => a.name)).toEqual(['etcd-member-add:n3', 'etcd-initial-cluster:n3']);
    const run = actions[1]!.run as string;
    expect(run.indexOf('rm -rf /var/lib/etcd/member')).toBeGreaterThan(run.indexOf('systemctl stop etcd.service'));
    expect(run.indexOf('rm -rf /var/lib/etcd/member')).toBeLessThan(run.indexOf('ETCD_INITIAL_CLUSTER='));
    expect(actions[1]!.check).toMatch(/^! test -d \/var\/lib\/etcd\/member && /);
  });

  it('names the joining member by its own name when an earlier run added it; another unstarted member leaves no file to write', () => {
    const unstarted = (n: number) => ({ id: `${n}a`, started: false, name: '', peerUrls: [`https://10.0.0.1${n}:2380`] });
    const started = (n: number) => ({ id: `${n}a`, started: true, name: `n${n}`, peerUrls: [`https://10.0.0.1${n}:2380`] });
    expect(joiningCluster([started(1), unstarted(3)], etcd(3))).toBe('n1=https://10.0.0.11:2380,n3=https://10.0.0.13:2380');
    expect(joiningCluster([started(1), unstarted(2)], etcd(3))).toBeUndefined();
  });

  it('a cluster with data that does not answer: no step (the preflight says why)', () => {
    expect(etcdJoinActions(ctx([etcd(1), etcd(2)], [], { n1: { data: true }, n2: {} }))).toEqual([]);
  });
});
