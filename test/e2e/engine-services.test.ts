import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterSpec, type ClusterSpec } from '../../src/config/cluster-spec.js';
import type { Resource } from '../../src/engine/resource.js';
import type { RunMode } from '../../src/engine/runner.js';
import { runEngine, type TestPhase as Phase } from '../support/engine-run.js';
import { SshPool } from '../../src/ssh/pool.js';
import { writeInventory } from '../lab/index.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * The engine's service handling, with a phase of the test's own: two small services, each with a
 * config file that names it in `restarts`. What a real phase will do with kubelet or etcd, on a
 * real systemd.
 */
const unit = (name: string, execStart: string, type = 'simple') =>
  `[Unit]\nDescription=kubestrap e2e ${name}\n[Service]\nType=${type}\nEnvironmentFile=/etc/${name}.conf\nExecStart=${execStart}\n[Install]\nWantedBy=multi-user.target\n`;

interface PhaseOptions {
  /** ks-beta's command; changing it changes ks-beta's unit file. */
  betaExec?: string;
  /** Adds a service whose start fails. */
  failing?: boolean;
}

function servicePhase(settings: Record<string, string>, { betaExec = '/bin/sleep infinity', failing = false }: PhaseOptions = {}): Phase {
  const file = (path: string, content: string, restarts: string[] = []): Resource => ({ kind: 'file', path, content, mode: 0o644, owner: 'root', group: 'root', restarts });
  return {
    name: 'workers',
    title: 'e2e services',
    appliesTo: () => true,
    resources: () => [
      ...['ks-alpha', 'ks-beta'].flatMap((name) => [
        file(`/etc/systemd/system/${name}.service`, unit(name, name === 'ks-beta' ? betaExec : '/bin/sleep infinity')),
        file(`/etc/${name}.conf`, `SETTING=${settings[name]}\n`, [name]),
      ]),
      ...(failing ? [file('/etc/systemd/system/ks-broken.service', unit('ks-broken', "/bin/sh -c 'echo broken-on-purpose >&2; exit 3'", 'oneshot')), file('/etc/ks-broken.conf', '')] : []),
      { kind: 'service', name: 'ks-alpha', enabled: true, running: true },
      { kind: 'service', name: 'ks-beta', enabled: true, running: true },
      ...(failing ? [{ kind: 'service', name: 'ks-broken', enabled: true, running: true } as const] : []),
    ],
  };
}

describe.skipIf(!labAvailable())('engine: services and restarts on real systemd', () => {
  const hosts = useLabHosts(1);
  let spec: ClusterSpec;
  let pool: SshPool;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubestrap-e2e-engine-'));
    await writeInventory({ ...hosts.lab, hosts: hosts.all() }, join(dir, 'inventory.yaml'));
    spec = loadClusterSpec({ inventoryFile: join(dir, 'inventory.yaml'), configFile: 'config.example.properties' });
    pool = new SshPool({ knownHostsFile: spec.knownHostsFile, acceptNewHostKeys: false });
  });
  afterAll(() => pool?.closeAll());

  const run = (mode: RunMode, phase: Phase) => runEngine(spec, pool, [phase], mode).then((r) => r.results[0]!);
  const mainPid = async (name: string) => (await hosts.run(0, `systemctl show -p MainPID --value ${name}`)).trim();

  it('installs, enables and starts services without restarting what it just started', async () => {
    const result = await run('apply', servicePhase({ 'ks-alpha': '1', 'ks-beta': '1' }));
    expect(result.error).toBeUndefined();
    expect(result.changes.map((c) => c.summary)).toEqual(expect.arrayContaining(['enable and start ks-alpha', 'enable and start ks-beta']));
    expect(result.restarts).toEqual([]);
    expect((await hosts.run(0, 'systemctl is-active ks-alpha ks-beta')).split('\n').filter(Boolean)).toEqual(['active', 'active']);
    expect((await hosts.run(0, 'systemctl is-enabled ks-alpha')).trim()).toBe('enabled');
  });

  it('restarts only the service whose input changed, once, and nothing on a no-op', async () => {
    const [alpha, beta] = [await mainPid('ks-alpha'), await mainPid('ks-beta')];
    const noop = await run('apply', servicePhase({ 'ks-alpha': '1', 'ks-beta': '1' }));
    expect([noop.status, noop.changes.length, noop.restarts.length]).toEqual(['ok', 0, 0]);

    const plan = await run('plan', servicePhase({ 'ks-alpha': '2', 'ks-beta': '1' }));
    expect(plan.changes.map((c) => c.resourceId)).toEqual(['file:/etc/ks-alpha.conf']);
    expect(plan.restarts).toEqual([{ service: 'ks-alpha', because: ['/etc/ks-alpha.conf'], managed: true }]);

    const applied = await run('apply', servicePhase({ 'ks-alpha': '2', 'ks-beta': '1' }));
    expect(applied.restarts.map((r) => r.service)).toEqual(['ks-alpha']);
    expect(await mainPid('ks-alpha')).not.toBe(alpha);
    expect(await mainPid('ks-beta')).toBe(beta);
  });

  it('reloads systemd before restarting a service whose unit file changed', async () => {
    const applied = await run('apply', servicePhase({ 'ks-alpha': '2', 'ks-beta': '1' }, { betaExec: '/bin/sleep 100000' }));
    expect(applied.restarts.map((r) => r.service)).toEqual(['ks-beta']);
    expect(await hosts.run(0, 'systemctl show -p ExecStart --value ks-beta')).toContain('/bin/sleep 100000');
    expect((await hosts.run(0, 'systemctl show -p NeedDaemonReload --value ks-beta')).trim()).toBe('no');
  });

  it('keeps a restart owed by an interrupted run until it is done', async () => {
    // What a run that died between writing ks-alpha's config and restarting it leaves behind.
    await hosts.run(0, 'mkdir -p /var/lib/kubestrap && echo ks-alpha > /var/lib/kubestrap/pending-restarts');
    const phase = servicePhase({ 'ks-alpha': '2', 'ks-beta': '1' }, { betaExec: '/bin/sleep 100000' });
    const plan = await run('plan', phase);
    expect(plan.changes).toEqual([]);
    expect(plan.restarts).toEqual([{ service: 'ks-alpha', because: ['an earlier run changed its inputs but did not finish restarting it'], managed: true }]);
    const before = await mainPid('ks-alpha');
    expect((await run('apply', phase)).restarts.map((r) => r.service)).toEqual(['ks-alpha']);
    expect(await mainPid('ks-alpha')).not.toBe(before);
    expect((await hosts.exec(0, 'test -e /var/lib/kubestrap/pending-restarts')).code).not.toBe(0);
    expect((await run('plan', phase)).restarts).toEqual([]);
  });

  it('reports a service that fails to start with its exit code and the last journal lines', async () => {
    const result = await run('apply', servicePhase({ 'ks-alpha': '2', 'ks-beta': '1' }, { betaExec: '/bin/sleep 100000', failing: true }));
    expect(result.status).toBe('failed');
    const error = result.error!;
    expect(error.message).toBe('enable and start ks-broken: failed');
    expect(error.format()).toContain('exit code: 1');
    expect(error.format()).toMatch(/journal:\n[\s\S]*broken-on-purpose/);
  });
});
