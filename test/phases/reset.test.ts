import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { factsScript, parseFacts } from '../../src/engine/facts.js';
import { OS_SETTINGS_FACT, osOriginal, restoreOsScript, SWAP_MARK } from '../../src/phases/os-original.js';
import { shRun } from '../engine/support.js';
import type { FileResource, ServiceResource } from '../../src/engine/resource.js';
import type { RunReport } from '../../src/engine/report.js';
import { HOST_RECORD_FILE } from '../../src/engine/host-record.js';
import { membershipPhase, resetPhases, type ResetOptions } from '../../src/phases/reset.js';
import { LOCAL_OWNER } from '../engine/support/fake-host.js';
import { fakeCluster, type FakeCluster } from '../engine/support/fake-cluster.js';
import { runEngine, type TestPhase } from '../support/engine-run.js';
import { useTempDir } from '../support/tmp.js';

/**
 * Reset as desired state, on fake hosts (the engine's real scripts against a sandbox per host): what
 * the host record says each phase installed goes, services stopped and disabled first; the OS
 * settings stay unless asked; a second reset changes nothing. (What the cluster made at run time,
 * interfaces and chains, is removed on lab hosts only: test/e2e/reset.test.ts.)
 */
const file = (path: string, content: string, restarts: string[] = []): FileResource => ({ kind: 'file', path, content, mode: 0o644, ...LOCAL_OWNER, restarts });
const app: ServiceResource = { kind: 'service', name: 'app', enabled: true, running: true };
const osPhase: TestPhase = {
  name: 'os',
  title: 'os',
  appliesTo: () => true,
  resources: () => [file('/etc/sysctl.d/k8s.conf', 'net.ipv4.ip_forward = 1\n'), file('/etc/profile.d/kubestrap-path.sh', 'PATH=$PATH\n')],
};
const workers: TestPhase = {
  name: 'workers',
  title: 'workers',
  appliesTo: () => true,
  resources: () => [
    { kind: 'directory', path: '/var/lib/demo', mode: 0o755, ...LOCAL_OWNER },
    file('/etc/systemd/system/app.service', '[Service]\n'),
    file('/etc/demo/app.conf', 'v=1\n', ['app']),
    app,
  ],
};

/** The reset's phases but the run-time leftovers, which act on the machine's own network here. */
function teardown(opts: Partial<ResetOptions> = {}): TestPhase[] {
  return resetPhases({ deleteEtcdData: false, restoreOs: false, ...opts }).filter((p) => p.name !== 'reset-runtime-state');
}

const summaries = (report: RunReport) => report.results.flatMap((r) => r.changes.map((c) => `${r.phase}: ${c.summary}`));

describe('reset, from the host record', () => {
  const tmp = useTempDir();
  async function installed(): Promise<FakeCluster> {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } } });
    await runEngine(cluster.spec, cluster, [osPhase, workers], 'apply');
    cluster.takeEvents();
    return cluster;
  }

  it('stops and disables the services, removes what every phase installed but the OS settings, then the record; a second reset changes nothing', async () => {
    const cluster = await installed();
    const plan = await runEngine(cluster.spec, cluster, teardown(), 'plan');
    expect(summaries(plan)).toEqual([
      'reset-workers: stop and disable app',
      'reset-workers: remove /etc/demo/app.conf',
      'reset-workers: remove /etc/systemd/system/app.service',
      'reset-workers: remove empty directory /var/lib/demo',
      'reset-os: remove /etc/profile.d/kubestrap-path.sh',
      'reset-record: remove /var/lib/kubestrap and everything in it',
    ]);
    const applied = await runEngine(cluster.spec, cluster, teardown(), 'apply');
    expect(summaries(applied)).toEqual(summaries(plan));
    const host = cluster.host('n1');
    expect(host.unit('app')).toMatchObject({ active: false, enabled: false });
    expect(['/etc/demo/app.conf', '/etc/systemd/system/app.service', '/etc/profile.d/kubestrap-path.sh', HOST_RECORD_FILE].map((p) => host.exists(p))).toEqual([false, false, false, false]);
    expect(host.exists('/var/lib/demo')).toBe(false);
    // The kernel settings init made persistent stay, as the OS does.
    expect(host.read('/etc/sysctl.d/k8s.conf')).toBe('net.ipv4.ip_forward = 1\n');

    expect(summaries(await runEngine(cluster.spec, cluster, teardown(), 'apply'))).toEqual([]);
  });

  it('removes the OS settings too when asked (--restore-os)', async () => {
    const cluster = await installed();
    const applied = await runEngine(cluster.spec, cluster, teardown({ restoreOs: true }), 'apply');
    expect(summaries(applied)).toContain('reset-os: remove /etc/sysctl.d/k8s.conf');
    expect(cluster.host('n1').exists('/etc/sysctl.d/k8s.conf')).toBe(false);
  });

  it('with --limit, refuses a host the cluster still counts, before any change', () => {
    const phase = membershipPhase(['n2']);
    const facts = (extra: Record<string, string>) => ({ extra, record: new Map() }) as never;
    const ctx = (n1: Record<string, string>) => ({ spec: {} as never, mode: 'apply' as const, hosts: [{ host: { name: 'n1' }, facts: facts(n1) }] as never });
    expect(phase.preflight!(ctx({ 'cluster-nodes': 'node/n1\nnode/n2\n', 'etcd-members': 'a1, started, n1, https://x, https://y, false\n' })).map((e) => e.format())).toEqual([
      expect.stringMatching(/^n2: is still a member of the running cluster \(its Node is registered\)/),
    ]);
    expect(phase.preflight!(ctx({ 'cluster-nodes': 'node/n1\n', 'etcd-members': 'a1, started, n1, https://x, https://y, false\n' }))).toEqual([]);
  });
});

describe('reset --restore-os, from what the os phase recorded', () => {
  const tmp = useTempDir();

  it('keeps the settings the first run saw: a later run reads what kubestrap made', () => {
    const read = (output: string) => parseFacts(shRun(factsScript({ [OS_SETTINGS_FACT.key]: `printf '${output}'` })).stdout);
    const first = read('selinux enforcing\\nfirewall firewalld\\n');
    expect(osOriginal(first)).toEqual({ selinux: 'enforcing', firewalls: ['firewalld'] });
    const later = {
      ...parseFacts('@@x-os-settings\nselinux permissive\n'),
      record: new Map([['os', { ids: [], restarts: {}, fields: { original: { selinux: 'enforcing', firewalls: ['firewalld'] } }, line: '' }]]),
    };
    expect(osOriginal(later)).toEqual({ selinux: 'enforcing', firewalls: ['firewalld'] });
  });

  it('puts swap lines and SELinux back for the next boot, then finds nothing to do', () => {
    const root = tmp();
    mkdirSync(join(root, 'selinux'));
    writeFileSync(join(root, 'fstab'), `UUID=1 / ext4 defaults 0 1\n${SWAP_MARK}/swap.img none swap sw 0 0\n`);
    writeFileSync(join(root, 'selinux', 'config'), 'SELINUX=permissive\nSELINUXTYPE=targeted\n');
    const { check, run } = restoreOsScript({ selinux: 'enforcing', firewalls: [] });
    const here = (script: string) => script.replaceAll('/etc/fstab', join(root, 'fstab')).replaceAll('/etc/selinux/config', join(root, 'selinux', 'config'));
    expect(shRun(here(check)).code).not.toBe(0);
    expect(shRun(here(run)).code).toBe(0);
    expect(readFileSync(join(root, 'fstab'), 'utf8')).toBe('UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n');
    expect(readFileSync(join(root, 'selinux', 'config'), 'utf8')).toBe('SELINUX=enforcing\nSELINUXTYPE=targeted\n');
    expect(shRun(here(check)).code).toBe(0);
  });
});
