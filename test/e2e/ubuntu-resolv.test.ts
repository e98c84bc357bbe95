import { beforeAll, describe, expect, it } from 'vitest';
import type { InventoryOptions } from '../lab/index.js';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

const RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';

/**
 * The lines a plan shows as added for `host` in its workers phase: its block starts with
 * `<host> (<address>): N to change`, every line of it indented; a new file's lines read `+<line>`.
 */
function plannedLines(planText: string, host: string): string[] {
  const lines = planText.split('\n');
  const section = lines.indexOf(lines.find((l) => l.startsWith('== workers')) ?? '');
  const start = lines.findIndex((l, i) => i > section && l.startsWith(`${host} (`));
  if (section < 0 || start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && !l.startsWith(' '));
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('+') && !l.startsWith('+ '))
    .map((l) => l.slice(1));
}

describe.skipIf(!labAvailable())("an Ubuntu host's systemd-resolved stub: the kubelet gets the real servers", () => {
  // One Ubuntu-flavoured worker (its /etc/resolv.conf names only 127.0.0.53) and one Debian worker.
  const hosts = useLabHosts(2, { flavour: ['ubuntu', 'debian'] });
  const roles: InventoryOptions = {};
  beforeAll(() => {
    roles.roles = { [hosts.host(0).name]: ['etcd', 'master', 'worker'], [hosts.host(1).name]: ['worker'] };
  });
  const cluster = useLabCluster(hosts, roles);

  it('the Ubuntu host looks like one: os-release, and resolv.conf on the stub with the upstream file next to it', async () => {
    expect(await hosts.run(0, '. /etc/os-release && echo "$ID $VERSION_ID"')).toBe('ubuntu 24.04\n');
    expect(await hosts.run(0, 'awk \'$1 == "nameserver"\' /etc/resolv.conf')).toBe('nameserver 127.0.0.53\n');
    expect(await hosts.run(0, `awk '$1 == "nameserver"' ${RESOLVED_UPSTREAM}`)).toBe(`nameserver ${hosts.lab.gateway}\n`);
  });

  it('plan shows resolvConf in the kubelet configuration of the Ubuntu host only, and the host is named as Ubuntu', async () => {
    const run = await cluster.cli(['plan', '--phase', 'workers', '--output', 'plain']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [ubuntu, debian] = [hosts.host(0).name, hosts.host(1).name];
    expect(run.stdout).toContain('Ubuntu 24.04.3 LTS (apt)');
    expect(plannedLines(run.stdout, ubuntu)).toContain(`resolvConf: ${RESOLVED_UPSTREAM}`);
    expect(plannedLines(run.stdout, debian).some((l) => l.startsWith('resolvConf'))).toBe(false);
  });
});
