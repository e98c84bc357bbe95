import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { PKI_PATHS } from '../../src/components/paths.js';
import { bundleVersionProperties } from '../lab/cluster-config.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { startsOf, whileTracing } from './support/exec-trace.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';
import { bundleWithVersions, usePreviousRelease } from './support/previous-release.js';

/**
 * What a compromised worker can reach in etcd, and what a reader of etcd's data sees of Secrets. A
 * cluster made by the release before etcd roles and encryption at rest (0f077ce) is the start: its
 * workers' flannel certificate reads all of etcd and its Secrets are stored plain. One `apply` of
 * this release converges it; the checks are made on the hosts with etcdctl, as an attacker would.
 */
const BEFORE_ETCD_ROLES = '0f077ce';

const SECRET_TEXT = 'hunter2-the-password';
const BIN = '/opt/kube/bin';

function etcdctl(cert: string, key: string): string {
  return `ETCDCTL_API=3 ${BIN}/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=${PKI_PATHS.etcdCaCert} --cert=${cert} --key=${key} --command-timeout=5s`;
}
const asFlannel = etcdctl(PKI_PATHS.etcdFlannelClientCert, PKI_PATHS.etcdFlannelClientKey);
const asHealth = etcdctl(PKI_PATHS.etcdHealthcheckClientCert, PKI_PATHS.etcdHealthcheckClientKey);
const asApiserver = etcdctl(PKI_PATHS.apiserverEtcdClientCert, PKI_PATHS.apiserverEtcdClientKey);
const kubectl = `${BIN}/kubectl --kubeconfig=${PKI_PATHS.adminConf}`;

function secretManifest(name: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type: 'Opaque', data: { password: Buffer.from(SECRET_TEXT).toString('base64') } });
}

function restarted(report: JsonReport): string[] {
  return report.results.flatMap((r) => r.restarts.map((x) => `${r.host} ${x.service}`)).sort();
}

function changed(report: JsonReport): string[] {
  return report.results.flatMap((r) => r.changes.map((c) => `${r.phase} ${r.host} ${c.resource}`));
}

async function monotonic(hosts: LabHosts, i: number, unit: string, property: 'ExecMainStartTimestampMonotonic' | 'ActiveEnterTimestampMonotonic'): Promise<number> {
  return Number((await hosts.run(i, `systemctl show -p ${property} --value ${unit}`)).trim());
}

describe.skipIf(!labAvailable())('etcd roles and encryption at rest, on a cluster made before them (etcd mode)', () => {
  // Two masters (one at a time is observable), three etcd members, two workers.
  const hosts = useLabHosts(3, { prefix: 'ea' });
  const roles = [
    ['etcd', 'master'],
    ['etcd', 'master', 'worker'],
    ['etcd', 'worker'],
  ];
  const cluster = useLabCluster(hosts, { layout: (i) => roles[i]! });
  const previous = usePreviousRelease(BEFORE_ETCD_ROLES);
  const masters = [0, 1];
  const name = (i: number) => hosts.host(i).name;

  it('the previous release makes the cluster: any worker certificate reads all of etcd, Secrets are stored plain', async () => {
    // That release took the flannel CNI plugin's bare version and added its tag's suffix itself; it
    // reads its own example's config.
    const tag = bundleVersionProperties(inject('bundleDir')!).FLANNEL_CNI_PLUGIN_VERSION!;
    const bundle = bundleWithVersions(inject('bundleDir')!, cluster.dir, { 'flannel-cni-plugin': tag.replace(/-flannel\d+$/, '') });
    const config = join(cluster.dir, 'previous-release.properties');
    previous.writeLabConfig(config, bundle);
    // That release installed docker.io without recommends, and Debian 13's and later docker.io only recommend
    // the docker command (fixed in e8abf10): its users installed docker-cli by hand, as here.
    const apt = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-cli >/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }';
    await Promise.all([1, 2].map((i) => hosts.run(i, apt)));
    const init = await previous.cli(['init', '--yes', '--output', 'json', '--bundle', bundle, '-i', cluster.inventory, '-c', config]);
    expect(init.code, `${init.stderr}\n${init.stdout.startsWith('{') ? errorsOf(JSON.parse(init.stdout) as JsonReport) : init.stdout.slice(-3000)}`).toBe(0);
    await hosts.run(0, `printf '%s' '${secretManifest('from-before')}' | ${kubectl} apply -f -`);
    // The defects this release fixes, seen on the old cluster: a worker's flannel certificate reads a Secret, in the clear.
    expect(await hosts.run(2, `${asFlannel} get /registry/secrets/default/from-before --print-value-only`)).toContain(Buffer.from(SECRET_TEXT).toString('base64'));
  });

  // The apply, its hosts' SSH traced, takes 1.5 min on a quiet lab and over 3 at load 30: a membership change's limit.
  it('one apply turns on etcd roles and encryption, restarting each control-plane service once, one master at a time', async () => {
    const { result, started } = await whileTracing(hosts, [0, 1, 2], () => cluster.json('apply'));
    const { run, report } = result;
    expect(run.code, `${run.stderr}\n${JSON.stringify(report.results.filter((r) => r.error))}`).toBe(0);
    // The roles, users and auth enable are the controller's gRPC requests: no etcdctl on a member but
    // the readiness wait after each etcd restart (endpoint health).
    const etcdctl = started.flatMap((p) => startsOf(p, 'etcdctl'));
    expect(etcdctl.filter((argv) => !argv.endsWith('"endpoint", "health"'))).toEqual([]);
    // Not an empty trace: it saw those readiness waits (each member restarts once, above).
    expect(etcdctl.length).toBeGreaterThanOrEqual(3);
    // The control plane restarts once per master. etcd's roles take no restart, but each member restarts
    // once, as its unit no longer carries the initial-cluster flags (they moved to the join step's file).
    // With two masters the worker's node agents move to its node-local API load balancer: they restart
    // once. The workers' runtime may restart too: this release writes containerd 2.x's config in its own format.
    const controlPlane = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
    const expected = [...masters.flatMap((i) => controlPlane.map((s) => `${name(i)} ${s}`)), ...[0, 1, 2].map((i) => `${name(i)} etcd`), ...['kubelet', 'kube-proxy'].map((s) => `${name(2)} ${s}`)];
    expect(restarted(report).filter((r) => !/ (containerd|docker)$/.test(r))).toEqual(expected.sort());
    expect(changed(report)).toEqual(expect.arrayContaining([`etcd ${name(0)} command:cluster:etcd-access`, `control-plane ${name(0)} command:cluster:encrypt-existing-secrets`]));
    for (const unit of [...controlPlane, 'etcd']) {
      const secondStarted = await monotonic(hosts, 1, unit, 'ExecMainStartTimestampMonotonic');
      const firstReady = await monotonic(hosts, 0, unit, 'ActiveEnterTimestampMonotonic');
      expect([unit, secondStarted > firstReady]).toEqual([unit, true]);
    }
  }, 600_000);

  it("a worker's etcd certificate reads and writes its flannel prefix and is refused everywhere else", async () => {
    await hosts.run(2, `${asFlannel} put /coreos.com/network/probe written-by-a-worker`);
    expect(await hosts.run(2, `${asFlannel} get /coreos.com/network/probe --print-value-only`)).toBe('written-by-a-worker\n');
    expect(await hosts.run(2, `${asFlannel} get /coreos.com/network/config --print-value-only`)).toContain('Network');
    for (const attempt of [
      'get /registry/secrets/default/from-before',
      'get --prefix --keys-only /registry/',
      'put /registry/clusterrolebindings/pwned x',
      'del /registry/namespaces/default',
      'get --from-key --keys-only ""',
    ]) {
      const r = await hosts.exec(2, `${asFlannel} ${attempt} 2>&1`);
      expect([attempt, r.code, r.stdout]).toEqual([attempt, 1, expect.stringContaining('permission denied')]);
    }
    await hosts.run(2, `${asFlannel} del /coreos.com/network/probe`);
  });

  it('the health-check certificate reads what health needs and writes nothing', async () => {
    expect(await hosts.run(2, `${asHealth} endpoint health 2>&1`)).toContain('is healthy');
    expect((await hosts.run(2, `${asHealth} member list`)).split('\n').filter(Boolean)).toHaveLength(3);
    expect(await hosts.run(2, `${asHealth} get --prefix --keys-only /coreos.com/network/subnets/`)).toContain('/coreos.com/network/subnets/');
    const write = await hosts.exec(2, `${asHealth} put /coreos.com/network/config {} 2>&1`);
    expect([write.code, write.stdout]).toEqual([1, expect.stringContaining('permission denied')]);
    const secret = await hosts.exec(2, `${asHealth} get /registry/secrets/default/from-before 2>&1`);
    expect([secret.code, secret.stdout]).toEqual([1, expect.stringContaining('permission denied')]);
  });

  it('Secrets are stored encrypted, the one from before and a new one, and the API server still reads them', async () => {
    await hosts.run(0, `printf '%s' '${secretManifest('from-after')}' | ${kubectl} apply -f -`);
    for (const secret of ['from-before', 'from-after']) {
      const raw = await hosts.run(0, `${asApiserver} get /registry/secrets/default/${secret} --print-value-only | head -c 40`);
      expect([secret, raw]).toEqual([secret, expect.stringMatching(/^k8s:enc:secretbox:v1:key-\d{8}:/)]);
      const stored = await hosts.run(0, `${asApiserver} get /registry/secrets/default/${secret} --print-value-only | base64 -w0`);
      expect(Buffer.from(stored, 'base64').toString('latin1')).not.toContain(Buffer.from(SECRET_TEXT).toString('base64'));
      const read = JSON.parse(await hosts.run(1, `${kubectl} get secret ${secret} -n default -o json`)) as { data: { password: string } };
      expect(Buffer.from(read.data.password, 'base64').toString()).toBe(SECRET_TEXT);
    }
  });

  it('health is all ok, and a second apply changes nothing, in two commands per host', async () => {
    const health = await cluster.cli(['health', '--output', 'json']);
    const rows = (JSON.parse(health.stdout) as { checks: Array<{ check: string; host: string; ok: boolean; detail: string }> }).checks;
    expect(rows.filter((r) => !r.ok)).toEqual([]);
    expect(health.code).toBe(0);
    const { run, report } = await cluster.json('apply');
    expect(run.code, run.stderr).toBe(0);
    expect(changed(report)).toEqual([]);
    expect(restarted(report)).toEqual([]);
    expect(report.hosts.map((h) => h.roundTrips?.execs)).toEqual([2, 2, 2]);
  });
});
