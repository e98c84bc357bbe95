import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { OPSPW_PASSWORD } from '../lab/index.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/** Issue 11 on real hosts: raw output is what is parsed and written back; secret files stay secret. */

describe.skipIf(!labAvailable())("a sudo password that also appears in the host's files", () => {
  const hosts = useLabHosts(1);
  const cluster = useLabCluster(hosts, { sshUser: 'opspw' });
  const LINE = `10.99.0.7 ${OPSPW_PASSWORD}-mirror # kept by ${OPSPW_PASSWORD}`;

  it('converges with those files intact, shows the password nowhere, and re-runs as a no-op', async () => {
    writeFileSync(cluster.inventory, readFileSync(cluster.inventory, 'utf8').replace('user: opspw', 'user: opspw\n  sudoPasswordEnv: KUBESTRAP_E2E_HARDEN_SUDO'));
    await hosts.run(0, `printf '%s\\n' '${LINE}' >> /etc/hosts`);
    process.env.KUBESTRAP_E2E_HARDEN_SUDO = OPSPW_PASSWORD;
    try {
      const plan = await cluster.cli(['plan', '--phase', 'os', '--output', 'plain']);
      expect(plan.code, plan.stdout + plan.stderr).toBe(0);
      expect(plan.stdout).toContain('/etc/hosts: 1 cluster host entry');
      expect(plan.stdout + plan.stderr).not.toContain(OPSPW_PASSWORD);

      const { run, report } = await cluster.json('apply', ['--phase', 'os']);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(report.hosts.map((h) => h.status)).toEqual(['changed']);
      expect(run.stdout + run.stderr).not.toContain(OPSPW_PASSWORD);
      const etcHosts = await hosts.run(0, 'cat /etc/hosts');
      expect(etcHosts).toContain(`${LINE}\n`);
      expect(etcHosts).not.toContain('********');
      expect(etcHosts).toContain(`${hosts.host(0).address} ${hosts.host(0).name}`);

      const again = await cluster.json('apply', ['--phase', 'os']);
      expect(again.report.hosts.map((h) => h.status)).toEqual(['ok']);
      const log = /debug log: (\S+)/.exec((await cluster.cli(['plan', '--phase', 'os'])).stderr)?.[1];
      expect(readFileSync(log!, 'utf8')).not.toContain(OPSPW_PASSWORD);
    } finally {
      delete process.env.KUBESTRAP_E2E_HARDEN_SUDO;
    }
  });
});

describe.skipIf(!labAvailable())('plan on a file only root may read', () => {
  const hosts = useLabHosts(1);
  const cluster = useLabCluster(hosts);
  const OLD = 'token-old-0815-on-the-host';
  const NEW = 'token-new-4711-from-the-template';

  it('says that it changes, never what it holds, in any output format or the debug log', async () => {
    const templates = join(cluster.dir, 'units');
    cpSync(BUNDLED_UNITS, templates, { recursive: true });
    mkdirSync(join(templates, 'all/etc/kubestrap-e2e'), { recursive: true });
    writeFileSync(join(templates, 'all/etc/kubestrap-e2e/token'), `{# kubestrap: mode=0600 #}\n${NEW}\n`);
    await hosts.run(0, `mkdir -p /etc/kubestrap-e2e && (umask 077; printf '%s\\n' ${OLD} > /etc/kubestrap-e2e/token)`);

    const text = await cluster.cli(['plan', '--phase', 'os', '--templates', templates, '--output', 'plain']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('  ~ update /etc/kubestrap-e2e/token\n      (content hidden: secret)\n');
    const json = await cluster.cli(['plan', '--phase', 'os', '--templates', templates, '--output', 'json']);
    expect(json.stdout).toContain('"summary": "update /etc/kubestrap-e2e/token"');
    const logsDir = join(cluster.dir, '.kubestrap', hosts.lab.name, 'logs');
    const logs = readdirSync(logsDir).map((f) => readFileSync(join(logsDir, f), 'utf8'));
    expect(logs.length).toBeGreaterThanOrEqual(2);
    for (const out of [text.stdout, text.stderr, json.stdout, json.stderr, ...logs]) {
      expect(out).not.toContain(OLD);
      expect(out).not.toContain(NEW);
    }
    // The plan touched nothing.
    expect(await hosts.run(0, 'cat /etc/kubestrap-e2e/token')).toBe(`${OLD}\n`);
  });
});
