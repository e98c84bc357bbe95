import { describe, expect, it } from 'vitest';
import { PKI_PATHS } from '../../src/components/paths.js';
import { errorsOf, useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * The pod check (issue 20, item 6): init's verify step runs pods on every node and checks DNS,
 * pod-to-pod across nodes and a Service from each; `health --deep` does the same on demand, a row
 * per node and check, and names the node and what failed when the pod network between two nodes
 * breaks. Either way the check's namespace is gone afterwards. Two hosts, both nodes: the master's
 * control-plane taint is tolerated.
 */

const KUBECTL = `/opt/kube/bin/kubectl --kubeconfig=${PKI_PATHS.adminConf}`;
const NAMESPACE = 'kubestrap-health';
const POD_CHECKS = ['pod starts', 'pod DNS', 'pod to pod (other node)', 'pod to Service'];

interface HealthJson {
  ok: boolean;
  durationMs: number;
  checks: Array<{ check: string; host: string; ok: boolean; detail: string }>;
}

/** What the check left in the API server: its namespace, its pods. */
async function leftovers(hosts: LabHosts): Promise<string> {
  return hosts.run(0, `${KUBECTL} get namespace ${NAMESPACE} -o name 2>/dev/null; ${KUBECTL} get pods -A --no-headers 2>/dev/null | grep ${NAMESPACE} || true`);
}

describe.skipIf(!labAvailable())('the pod check: init verifies that pods work, health --deep checks it on demand', () => {
  const hosts = useLabHosts(2, { prefix: 'hd' });
  const cluster = useLabCluster(hosts, { layout: (i) => (i === 0 ? ['etcd', 'master', 'worker'] : ['worker']), properties: { VERIFY_PODS: 'true' } });
  const name = (i: number) => hosts.host(i).name;

  async function deepHealth(): Promise<{ code: number; report: HealthJson; text: string }> {
    const run = await cluster.cli(['health', '--deep', '--output', 'json']);
    try {
      return { code: run.code, report: JSON.parse(run.stdout) as HealthJson, text: run.stdout + run.stderr };
    } catch {
      throw new Error(`health --deep printed no JSON (exit ${run.code}):\n${run.stdout}${run.stderr}`);
    }
  }

  it('init brings the cluster up and its verify step runs the pod check, which leaves nothing behind', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    expect(run.code, `${run.stderr}\n${errorsOf(report)}`).toBe(0);
    const verify = report.results.filter((r) => r.phase === 'verify').flatMap((r) => r.changes.map((c) => c.resource));
    expect(verify).toEqual(expect.arrayContaining(['command:cluster:pods-work', 'command:cluster:pods-work-recorded']));
    expect(await leftovers(hosts)).toBe('');
    // Its record, read back through the API, says the check passed on these nodes: the next run does not run it again.
    const plan = await cluster.json('plan');
    expect(plan.report.results.filter((r) => r.phase === 'verify').flatMap((r) => r.changes.map((c) => c.resource))).toEqual([]);
  });

  it('health --deep: a row per node for each of the pod checks, all ok, and nothing left behind', async () => {
    const { code, report, text } = await deepHealth();
    const rows = report.checks.filter((c) => POD_CHECKS.includes(c.check));
    expect(
      rows.filter((r) => !r.ok),
      text,
    ).toEqual([]);
    expect(rows.map((r) => `${r.check} ${r.host}`).sort()).toEqual(POD_CHECKS.flatMap((c) => [0, 1].map((i) => `${c} ${name(i)}`)).sort());
    expect(rows.find((r) => r.check === 'pod to pod (other node)' && r.host === name(0))!.detail).toBe(`reached the pod on ${name(1)}`);
    expect(code, text).toBe(0);
    expect(await leftovers(hosts)).toBe('');
  });

  it("without the route to a node's pod subnet, the check fails naming that node and what failed, and still cleans up", async () => {
    // flanneld on the first host programs its routes: stopped, so that the one removed stays away.
    const subnet = (await hosts.run(1, '. /run/flannel/subnet.env && echo "$FLANNEL_SUBNET"')).trim();
    const network = subnet.replace(/\.\d+\/(\d+)$/, '.0/$1');
    await hosts.run(0, `systemctl stop flanneld && ip route del ${network}`);
    try {
      const { code, report, text } = await deepHealth();
      expect(code, text).toBe(1);
      const failed = report.checks.filter((c) => !c.ok);
      const podToPod = failed.find((r) => r.check === 'pod to pod (other node)' && r.host === name(0));
      expect(podToPod?.detail, text).toContain(`a pod on ${name(0)} cannot reach the pod on ${name(1)} by its IP`);
      expect(podToPod?.detail).toContain('look at flanneld');
      // Only the pod network broke: each pod still started.
      expect(failed.filter((r) => r.check === 'pod starts')).toEqual([]);
      expect(await leftovers(hosts)).toBe('');
    } finally {
      await hosts.run(0, 'systemctl start flanneld');
    }
  });
});
