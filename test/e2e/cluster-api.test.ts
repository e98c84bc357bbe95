import { afterAll, describe, expect, it } from 'vitest';
import { etcdApiOn } from '../../src/cluster-api/cluster-apis.js';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { clientIdentity } from '../../src/pki/client-identities.js';
import { SshPool } from '../../src/ssh/pool.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * The cluster checks are the controller's own requests to the API server and etcd, through
 * forwarded channels of the SSH connections kubestrap already holds: a no-op run starts nothing on
 * the master beyond its fact command and its probe, and still sees what differs in the cluster.
 */
interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

const KUBECTL = '/opt/kube/bin/kubectl --kubeconfig=/etc/kubernetes/admin.conf';

function roundTrips(report: JsonReport, host: string): { handshakes: number; execs: number; sftpOps: number; channels?: number } {
  return report.hosts.find((h) => h.host === host)!.roundTrips as { handshakes: number; execs: number; sftpOps: number; channels?: number };
}

/** One request as the API server's audit log records it (--audit-log-path, the product's policy: Metadata for what is not health or events). */
interface AuditEvent {
  verb: string;
  requestURI: string;
  userAgent?: string;
  user: { username: string };
}

/** The requests kubectl made (its user agent: `kubectl/v1.36.4 (linux/amd64) kubernetes/...`). */
function kubectlRequests(events: readonly AuditEvent[]): string[] {
  return events.filter((e) => e.userAgent?.startsWith('kubectl')).map((e) => `${e.verb} ${e.requestURI}`);
}

function clusterChanges(report: JsonReport): string[] {
  return report.results.flatMap((r) => r.changes.filter((c) => c.resource.startsWith('command:cluster:')).map((c) => `${r.host} ${c.resource}`));
}

describe.skipIf(!labAvailable())('cluster checks over the SSH connection (etcd+master+worker, and a worker)', () => {
  const hosts = useLabHosts(2, { prefix: 'ca' });
  const cluster = useLabCluster(hosts, { layout: (i) => (i === 0 ? ['etcd', 'master', 'worker'] : ['worker']) });
  const master = () => hosts.host(0).name;
  const auditLines = async (): Promise<AuditEvent[]> =>
    (await hosts.run(0, 'cat /var/log/kubernetes/audit.log'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent);

  it('init makes the cluster', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    // Minutes on a loaded machine (other engineers' labs share its two cores).
  }, 900_000);

  it("a no-op apply runs two commands on the master (facts, probe) and no kubectl: its cluster checks are the controller's requests through forwarded channels", async () => {
    const before = await auditLines();
    const { run, report } = await cluster.json('apply');
    // The API server's audit log names each request's client: every one of the run's is kubestrap's, none kubectl's.
    const requests = (await auditLines()).slice(before.length);
    expect(kubectlRequests(requests)).toEqual([]);
    expect(requests.filter((e) => e.userAgent === 'kubestrap' && e.user.username === 'kubestrap-admin').length).toBeGreaterThanOrEqual(5);
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    expect(report.results.flatMap((r) => r.changes.map((c) => `${r.host} ${c.resource}`))).toEqual([]);
    expect(roundTrips(report, master())).toMatchObject({ handshakes: 1, execs: 2, sftpOps: 0 });
    // etcd access, the kubelet binding, Secrets' encryption, CoreDNS, nodes Ready, the pod check's record, the control-plane label and taint.
    expect(roundTrips(report, master()).channels).toBeGreaterThanOrEqual(8);
    expect(roundTrips(report, hosts.host(1).name)).toMatchObject({ handshakes: 1, execs: 2, sftpOps: 0 });
    expect(roundTrips(report, hosts.host(1).name).channels ?? 0).toBe(0);
  });

  it('plan sees a cluster object gone through the API, and apply puts it back', async () => {
    await hosts.run(0, `${KUBECTL} -n kube-system delete deployment coredns`);
    const plan = await cluster.json('plan');
    expect(plan.run.code, `${errorsOf(plan.report)}\n${plan.run.stderr}`).toBe(0);
    expect(clusterChanges(plan.report)).toEqual([`${master()} command:cluster:addon:coredns`]);
    const { run, report } = await cluster.json('apply');
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    expect(clusterChanges(report)).toEqual([`${master()} command:cluster:addon:coredns`]);
    expect(await hosts.run(0, `${KUBECTL} -n kube-system get deployment coredns -o name`)).toContain('deployment.apps/coredns');
    expect(clusterChanges((await cluster.json('plan')).report)).toEqual([]);
  });

  it('changes the cluster through the API as well: the binding, the label, the taint and CoreDNS come back with nothing run on the master but facts and probe', async () => {
    await hosts.run(
      0,
      [
        `${KUBECTL} delete clusterrolebinding kubestrap:apiserver-kubelet-client`,
        `${KUBECTL} label node ${master()} node-role.kubernetes.io/control-plane-`,
        `${KUBECTL} taint node ${master()} node-role.kubernetes.io/control-plane:NoSchedule- example.com/keep=yes:NoSchedule`,
        `${KUBECTL} -n kube-system delete deployment coredns`,
      ].join(' && '),
    );
    const before = await auditLines();
    const { run, report } = await cluster.json('apply');
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    expect(clusterChanges(report).sort()).toEqual(
      ['command:cluster:addon:coredns', 'command:cluster:apiserver-kubelet-access', `command:cluster:control-plane-label:${master()}`, `command:cluster:control-plane-taint:${master()}`].map(
        (c) => `${master()} ${c}`,
      ),
    );
    // Facts and probe: the four changes, and every check made again after them, are the controller's
    // requests (a check left as a script on the master would be a third command, run again after a change).
    expect(roundTrips(report, master())).toMatchObject({ handshakes: 1, execs: 2, sftpOps: 0 });
    expect(kubectlRequests((await auditLines()).slice(before.length))).toEqual([]);
    const node = JSON.parse(await hosts.run(0, `${KUBECTL} get node ${master()} -o json`)) as {
      metadata: { labels: Record<string, string> };
      spec: { taints?: Array<{ key: string; value?: string }> };
    };
    expect(node.metadata.labels['node-role.kubernetes.io/control-plane']).toBe('');
    // The taint kubestrap owns is back; the one an operator added stays.
    expect((node.spec.taints ?? []).map((t) => t.key).sort()).toEqual(['example.com/keep', 'node-role.kubernetes.io/control-plane']);
    expect(await hosts.run(0, `${KUBECTL} get clusterrolebinding kubestrap:apiserver-kubelet-client -o jsonpath='{.subjects[0].name}'`)).toBe('kube-apiserver-kubelet-client');
    // Server-side apply: the objects record kubestrap as the manager of what it applied.
    expect(await hosts.run(0, `${KUBECTL} -n kube-system get deployment coredns -o jsonpath='{.metadata.managedFields[*].manager}'`)).toContain('kubestrap');
    await hosts.run(0, `${KUBECTL} taint node ${master()} example.com/keep-`);
    expect(clusterChanges((await cluster.json('plan')).report)).toEqual([]);
  });

  it("the API server takes server-side apply as upstream does: kubectl apply --server-side creates, drops a field it no longer applies, keeps another manager's", async () => {
    const cm = (manager: string, data: string) =>
      `printf '%s' '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa","namespace":"default"},"data":${data}}' | ${KUBECTL} apply --server-side --field-manager=${manager} -f -`;
    expect(await hosts.run(0, cm('e2e', '{"a":"1","b":"2"}'))).toContain('serverside-applied');
    await hosts.run(0, cm('other', '{"c":"3"}'));
    await hosts.run(0, cm('e2e', '{"a":"1"}'));
    expect(JSON.parse(await hosts.run(0, `${KUBECTL} get configmap ssa -o jsonpath='{.data}'`))).toEqual({ a: '1', c: '3' });
    expect((await hosts.run(0, `${KUBECTL} get configmap ssa -o jsonpath='{.metadata.managedFields[*].manager}'`)).split(' ').sort()).toEqual(['e2e', 'other']);
  });

  it("health reads etcd's and the cluster's state through the same channels: every row ok, etcd's auth on, one command on the master", async () => {
    const run = await cluster.cli(['health', '--output', 'json']);
    const parsed = JSON.parse(run.stdout) as { checks: HealthRow[]; hosts: Array<{ host: string; roundTrips: { execs: number; channels?: number } }> };
    const rows = parsed.checks;
    expect(rows.filter((r) => !r.ok).map((r) => `${r.check} ${r.host}: ${r.detail}`)).toEqual([]);
    expect(run.code).toBe(0);
    // Its services and the controller-manager's and scheduler's health in one command; /readyz, etcd and the cluster's state are the controller's requests.
    const trips = Object.fromEntries(parsed.hosts.map((h) => [h.host, h.roundTrips]));
    expect(trips[master()]).toMatchObject({ execs: 1 });
    expect(trips[master()]!.channels).toBeGreaterThanOrEqual(6);
    const row = (check: string) => rows.filter((r) => r.check === check).map((r) => [r.host, r.detail]);
    expect(row('API server /readyz')).toEqual([[master(), 'ok']]);
    expect(row('etcd member list')).toEqual([[master(), `1 members started: ${master()}`]]);
    expect(row('etcd endpoint health')).toEqual([[master(), `https://${hosts.host(0).address}:2379 is healthy`]]);
    expect(row('etcd access control')).toEqual([[master(), 'on: each client reaches only its own keys']]);
    expect(
      row('node Ready')
        .map(([host]) => host)
        .sort(),
    ).toEqual(
      hosts
        .all()
        .map((h) => h.name)
        .sort(),
    );
    expect(row('flannel lease in etcd')).toHaveLength(2);
  });

  describe("etcd's gRPC API through a member's pooled connection", () => {
    let pool: SshPool | undefined;
    afterAll(() => pool?.closeAll());
    const etcd = (user: 'etcdAdmin' | 'etcdHealthcheck') => {
      const spec = loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config });
      pool ??= new SshPool({ knownHostsFile: spec.knownHostsFile, acceptNewHostKeys: false });
      const member = spec.hosts[0]!;
      return etcdApiOn(member, (address, port) => pool!.forwardOut(member.ssh, address, port), clientIdentity(spec, user));
    };

    it("lists the members and, as etcd's root, reads its status; the health check is refused what its role does not grant", async () => {
      const members = await etcd('etcdHealthcheck').memberList();
      expect(members.map((m) => [m.name, m.started, m.peerUrls, m.isLearner])).toEqual([[master(), true, [`https://${hosts.host(0).address}:2380`], false]]);
      const status = await etcd('etcdAdmin').status();
      expect(status.version).toMatch(/^3\.\d+\.\d+$/);
      expect(status.leader).toBe(members[0]!.id);
      expect(await etcd('etcdHealthcheck').get('kubestrap/etcd-access')).toMatchObject({ kind: 'denied', message: expect.stringContaining('permission denied') });
      expect(await etcd('etcdAdmin').get('kubestrap/etcd-access')).toMatchObject({ kind: 'value', value: expect.stringMatching(/^[0-9a-f]{16}$/) });
    });
  });
});
