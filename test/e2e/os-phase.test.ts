import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useLabCluster } from './support/cluster.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/** Resolves true when a TCP connection to address:port opens within the timeout. */
function tcpOpen(address: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

const ETCD_CLIENT_PORT = 2379;

describe.skipIf(!labAvailable())('apply --phase os on fresh CentOS-like hosts', () => {
  const hosts = useLabHosts(3);
  const cluster = useLabCluster(hosts);

  it('starts from hosts that look fresh: firewalld running and blocking etcd, swap in fstab', async () => {
    for (const i of [0, 1, 2]) {
      expect((await hosts.run(i, 'systemctl is-active firewalld')).trim()).toBe('active');
      expect(await hosts.run(i, 'cat /etc/fstab')).toMatch(/^\/swapfile\s+none\s+swap/m);
    }
    // Something listening on etcd's port, as etcd will: firewalld must be what keeps us out.
    await hosts.run(0, `systemd-run --unit=fake-etcd python3 -m http.server ${ETCD_CLIENT_PORT}`);
    expect(await tcpOpen(hosts.host(0).address, ETCD_CLIENT_PORT)).toBe(false);
  });

  it('brings every host to the desired state', async () => {
    const { run, report } = await cluster.json('apply', ['--phase', 'os']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.hosts.map((h) => h.status)).toEqual(['changed', 'changed', 'changed']);

    const names = hosts.all().map((h) => h.name);
    for (const [i, host] of hosts.all().entries()) {
      const state = await hosts.run(
        i,
        [
          'systemctl is-active firewalld || true',
          'systemctl is-enabled firewalld || true',
          'awk \'!/^[[:space:]]*#/ && $3 == "swap"\' /etc/fstab | wc -l',
          'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables',
          'iptables -S FORWARD | head -n 1',
          'hostname',
        ].join('; '),
      );
      expect(state.trim().split('\n')).toEqual(['inactive', 'disabled', '0', '1', '1', '1', '-P FORWARD ACCEPT', host.name]);
      expect(await hosts.run(i, 'cat /etc/fstab')).toMatch(/^# kubestrap: swap off for the kubelet: \/swapfile/m);
      expect(await hosts.run(i, 'cat /etc/modules-load.d/k8s.conf')).toMatch(/^br_netfilter\noverlay\n/m);
      expect(await hosts.run(i, 'stat -c "%a %U" /etc/sysctl.d/k8s.conf; cat /etc/sysctl.d/k8s.conf')).toMatch(/^644 root\n[\s\S]*net\.ipv4\.ip_forward = 1/);
      const etcHosts = await hosts.run(i, 'cat /etc/hosts');
      for (const [j, name] of names.entries()) expect(etcHosts).toContain(`${hosts.host(j).address} ${name}`);
    }
    // The firewall no longer cuts etcd's port.
    expect(await tcpOpen(hosts.host(0).address, ETCD_CLIENT_PORT)).toBe(true);
  });

  it('changes and restarts nothing on a second apply, and plans nothing after it', async () => {
    const apply = await cluster.json('apply', ['--phase', 'os']);
    expect(apply.run.code).toBe(0);
    expect(apply.report.results.map((r) => [r.host, r.status, r.changes.length, r.restarts.length])).toEqual(hosts.all().map((h) => [h.name, 'ok', 0, 0]));
    const plan = await cluster.json('plan', ['--phase', 'os']);
    expect(plan.report.results.every((r) => r.status === 'ok' && r.changes.length === 0 && r.restarts.length === 0)).toBe(true);
    // One connection and two commands (facts, then every resource's state) per host.
    expect(plan.report.hosts.map((h) => h.roundTrips)).toEqual(hosts.all().map(() => ({ handshakes: 1, execs: 2, sftpOps: 0 })));
  });

  it('plans and applies exactly the one file an edited property feeds', async () => {
    // ip_forward=1 already turned this on, so only the file that records it differs.
    cluster.setProperty('EXTRA_SYSCTLS', 'net.ipv4.conf.all.forwarding=1');
    const plan = await cluster.json('plan', ['--phase', 'os']);
    for (const r of plan.report.results) {
      expect(r.changes.map((c) => c.resource)).toEqual(['file:/etc/sysctl.d/k8s.conf']);
      expect(r.text).toContain('      +net.ipv4.conf.all.forwarding=1');
      expect(r.text.filter((l) => /^ {6}[+-][^+-]/.test(l))).toEqual(['      +net.ipv4.conf.all.forwarding=1']);
    }
    const apply = await cluster.json('apply', ['--phase', 'os']);
    expect(apply.report.results.map((r) => r.changes.map((c) => c.resource))).toEqual(hosts.all().map(() => ['file:/etc/sysctl.d/k8s.conf']));
    expect(await hosts.run(1, 'cat /etc/sysctl.d/k8s.conf')).toContain('\nnet.ipv4.conf.all.forwarding=1\n');
    expect((await cluster.json('plan', ['--phase', 'os'])).report.results.every((r) => r.changes.length === 0)).toBe(true);
  });

  it('reports a sysctl the host refuses (read-only /proc/sys) clearly, and converges once it is removed', async () => {
    cluster.setProperty('EXTRA_SYSCTLS', 'vm.swappiness=0');
    const plan = await cluster.json('plan', ['--phase', 'os']);
    expect(plan.report.results[0]!.text.join('\n')).toContain('/proc/sys/vm/swappiness is read-only on this host');

    const { run, report } = await cluster.json('apply', ['--phase', 'os']);
    expect(run.code).toBe(1);
    expect(report.ok).toBe(false);
    for (const r of report.results) {
      expect(r.status).toBe('failed');
      expect(r.error?.message).toBe('sysctl vm.swappiness: 60 → 0: failed');
      expect(r.error?.details?.stderrTail).toContain('permission denied on key "vm.swappiness"');
      expect(r.error?.hint).toContain('may not change vm.swappiness');
    }
    cluster.setProperty('EXTRA_SYSCTLS', '');
    const fixed = await cluster.json('apply', ['--phase', 'os']);
    expect(fixed.run.code).toBe(0);
    expect((await cluster.json('apply', ['--phase', 'os'])).report.results.every((r) => r.status === 'ok')).toBe(true);
  });
});
