import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/** The known_hosts lines the lab recorded for one address. */
function labKeys(knownHosts: string, address: string): string[] {
  return readFileSync(knownHosts, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${address} `));
}

function pointInventoryAt(inventory: string, knownHosts: string): void {
  writeFileSync(inventory, readFileSync(inventory, 'utf8').replace(/knownHosts: .*/, `knownHosts: ${knownHosts}`));
}

describe.skipIf(!labAvailable())('host key checking', () => {
  const hosts = useLabHosts(1);
  const cluster = useLabCluster(hosts);

  it('refuses a host whose key is unknown, and records it only with --accept-new-host-keys', async () => {
    const knownHosts = join(cluster.dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    pointInventoryAt(cluster.inventory, knownHosts);

    const refused = await cluster.json('plan');
    expect(refused.run.code).toBe(1);
    const error = refused.report.hosts[0]!.error!;
    expect(error.kind).toBe('ssh');
    expect(error.where).toBe(`${hosts.host(0).name} [hostkey]`);
    expect(error.message).toMatch(new RegExp(`^unknown host key for ${hosts.host(0).address}: ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}$`));
    expect(error.hint).toContain('--accept-new-host-keys');
    expect(readFileSync(knownHosts, 'utf8')).toBe('');

    const accepted = await cluster.json('plan', ['--accept-new-host-keys']);
    expect(accepted.run.code).toBe(0);
    const recorded = readFileSync(knownHosts, 'utf8');
    expect(recorded).toContain(`${hosts.host(0).address} ssh-ed25519 `);
    expect(labKeys(hosts.lab.knownHosts, hosts.host(0).address).some((l) => recorded.includes(l.split(' ').slice(1).join(' ')))).toBe(true);
    // Recorded once: the next run needs no flag.
    expect((await cluster.json('plan')).run.code).toBe(0);
  });

  it('always refuses a changed key, even with --accept-new-host-keys, showing both fingerprints', async () => {
    const knownHosts = join(cluster.dir, 'known_hosts_changed');
    const impostor = join(cluster.dir, 'impostor');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', impostor]);
    const impostorKey = readFileSync(`${impostor}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(knownHosts, `${hosts.host(0).address} ${impostorKey}\n`);
    pointInventoryAt(cluster.inventory, knownHosts);

    const { run, report } = await cluster.json('apply', ['--accept-new-host-keys']);
    expect(run.code).toBe(1);
    const error = report.hosts[0]!.error!;
    expect(error.message).toMatch(/^HOST KEY CHANGED for \S+: expected ssh-ed25519 SHA256:\S+ \(.*known_hosts_changed:1\), but the host presented ssh-ed25519 SHA256:\S+/);
    const [expected, presented] = [...error.message.matchAll(/SHA256:[A-Za-z0-9+/]+/g)].map((m) => m[0]);
    expect(expected).not.toBe(presented);
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${hosts.host(0).address} ${impostorKey}\n`);
    // Nothing was touched on the host.
    expect((await hosts.run(0, 'systemctl is-active firewalld')).trim()).toBe('active');
  });
});
