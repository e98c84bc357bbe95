import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseVersion, type Version } from '../../src/upstream/index.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * Upgrades are version edits followed by apply (issue 24). What upstream's skew policy forbids is
 * refused before any host changes: the hosts' binaries, units and kubestrap's record stay as they
 * were, and the refusal names the rule and the version to go to instead.
 */
const BIN = '/opt/kube/bin';
const RECORD = '/var/lib/kubestrap/installed.jsonl';

interface HealthRow {
  check: string;
  host: string;
  ok: boolean;
  detail: string;
}

describe.skipIf(!labAvailable())('upgrades on lab hosts', () => {
  const hosts = useLabHosts(1, { prefix: 'upg' });
  const cluster = useLabCluster(hosts, { layout: () => ['etcd', 'master', 'worker'] });
  const configured = (key: string): Version => parseVersion(new RegExp(`^${key}=(\\S+)$`, 'm').exec(readFileSync(cluster.config, 'utf8'))![1]!)!;
  /** What a refused run must leave alone: the binaries, the units and the host record. */
  const fingerprint = () =>
    hosts.run(0, `sha256sum ${BIN}/kubelet ${BIN}/kube-apiserver ${BIN}/etcd /etc/systemd/system/kubelet.service ${RECORD}; systemctl show -p ActiveEnterTimestampMonotonic --value kubelet etcd`);
  const upgradeRefusals = (report: JsonReport) => (report.refused ?? []).filter((r) => r.kind === 'upgrade');

  it('init makes the cluster at the lab version, whose health shows each version and no skew', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    expect(run.code, `${errorsOf(report)}\n${run.stderr}`).toBe(0);
    const out = await cluster.cli(['health', '--output', 'json']);
    const rows = (JSON.parse(out.stdout) as { checks: HealthRow[] }).checks;
    const name = hosts.host(0).name;
    const kube = configured('KUBE_VERSION');
    expect(rows.find((r) => r.check === 'kubelet version' && r.host === name)).toEqual({ check: 'kubelet version', host: name, ok: true, detail: kube.tag });
    expect(rows.find((r) => r.check === 'kube-apiserver version')?.detail).toBe(kube.tag);
    expect(rows.find((r) => r.check === 'etcd version')?.detail).toBe(configured('ETCD_VERSION').tag);
    expect(rows.find((r) => r.check === 'version skew')).toMatchObject({ ok: true, detail: expect.stringContaining(`node ${kube.tag}`) as unknown });
    // A bring-up on the shared, loaded lab machine: 80 s alone, past the default 180 s next to another e2e run.
  }, 420_000);

  it('refuses a minor skip before any change, naming the version to stop at', async () => {
    const kube = configured('KUBE_VERSION');
    const before = await fingerprint();
    cluster.setProperty('KUBE_VERSION', `v1.${kube.minor + 2}.0`);
    try {
      const { run, report } = await cluster.json('apply');
      expect(run.code).toBe(2);
      const refused = upgradeRefusals(report);
      expect(refused.length, errorsOf(report)).toBeGreaterThan(0);
      expect(refused[0]!.where).toContain('KUBE_VERSION (upgrade rule kubernetes-minor-skip');
      expect(refused[0]!.hint).toContain(`KUBE_VERSION=v1.${kube.minor + 1}.`);
      expect(report.results).toEqual([]);
      // A refused run moves no version: its report lists no upgrade step.
      expect(report.upgrade).toEqual([]);
      expect(await fingerprint()).toBe(before);
    } finally {
      cluster.setProperty('KUBE_VERSION', kube.tag);
    }
  });

  it('refuses a downgrade across minors, and an etcd minor skip, before any change', async () => {
    const kube = configured('KUBE_VERSION');
    const etcd = configured('ETCD_VERSION');
    const before = await fingerprint();
    cluster.setProperty('KUBE_VERSION', `v1.${kube.minor - 1}.0`);
    cluster.setProperty('ETCD_VERSION', `v3.${etcd.minor + 2}.0`);
    try {
      const { run, report } = await cluster.json('plan');
      expect(run.code).toBe(2);
      const rules = upgradeRefusals(report).map((r) => /upgrade rule ([\w.-]+)/.exec(r.where)?.[1]);
      expect(rules).toEqual(expect.arrayContaining(['kubernetes-downgrade', 'etcd-minor-skip']));
      const apply = await cluster.json('apply');
      expect(apply.run.code).toBe(2);
      expect(apply.report.results).toEqual([]);
      expect(await fingerprint()).toBe(before);
    } finally {
      cluster.setProperty('KUBE_VERSION', kube.tag);
      cluster.setProperty('ETCD_VERSION', etcd.tag);
    }
  });

  it('back at the running versions, apply is a no-op', async () => {
    const { run, report } = await cluster.json('apply');
    expect(run.code, errorsOf(report)).toBe(0);
    expect(report.results.flatMap((r) => r.changes.map((c) => `${r.phase} ${r.host}: ${c.summary}`))).toEqual([]);
    expect(report.upgrade).toEqual([]);
  });

  it("plan lists a patch upgrade as steps, each from the host record's version, and changes nothing", async () => {
    const kube = configured('KUBE_VERSION');
    const before = await fingerprint();
    const next = `v${kube.major}.${kube.minor}.${kube.patch + 1}`;
    cluster.setProperty('KUBE_VERSION', next);
    try {
      // The phases that run the control plane and the node agents: the lab has no binaries of the next patch to download.
      const { run, report } = await cluster.json('plan', ['--phase', 'control-plane,workers']);
      expect(run.code, errorsOf(report)).toBe(0);
      const from = [{ host: hosts.host(0).name, from: kube.tag }];
      expect(report.upgrade?.map((s) => [s.components, s.to, s.hosts])).toEqual(['kube-apiserver', 'kube-controller-manager, kube-scheduler', 'kubelet, kube-proxy'].map((c) => [c, next, from]));
      expect(await fingerprint()).toBe(before);
    } finally {
      cluster.setProperty('KUBE_VERSION', kube.tag);
    }
  });
});
