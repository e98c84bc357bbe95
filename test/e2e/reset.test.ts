import { afterAll, describe, expect, it } from 'vitest';
import { loadClusterSpec } from '../../src/config/cluster-spec.js';
import { SshPool } from '../../src/ssh/pool.js';
import { errorsOf, useLabCluster, type JsonReport } from './support/cluster.js';
import { labAvailable, useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * `bootstrap reset` on lab hosts: after it, nothing of kubestrap's or the cluster's is left (units,
 * binaries, configuration, credentials, data, interfaces, mounts, chains), what is someone else's
 * stays, and the SSH session that watched it is still up. The stand-ins make no interfaces, mounts
 * or chains of their own, so the test makes what real components leave, by hand, before the reset.
 */
const OURS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'flanneld'];
const FOLDERS = ['/etc/kubernetes', '/opt/kube/bin', '/var/lib/etcd', '/var/lib/kubelet', '/var/lib/kube-proxy', '/var/lib/cni', '/run/flannel', '/var/lib/kubestrap', '/var/log/kubernetes'];

/** What a running cluster leaves on a node that its stand-ins here do not: a pod's volume, interfaces, chains with jumps, CNI state. */
const LEAVE_RUNTIME_STATE = [
  'mkdir -p /var/lib/kubelet/pods/p1/volumes/v && mount -t tmpfs tmpfs /var/lib/kubelet/pods/p1/volumes/v',
  // Pods that ran made cni0 already (the real bridge plugin); flannel.1 stands for the VXLAN device the stand-in does not make.
  'for i in cni0 flannel.1; do [ -e /sys/class/net/$i ] || ip link add $i type bridge || exit 1; done',
  'iptables -N KUBE-E2E-SERVICES && iptables -A FORWARD -j KUBE-E2E-SERVICES && iptables -A KUBE-E2E-SERVICES -p tcp --dport 9 -j ACCEPT',
  'iptables -t nat -N CNI-E2E && iptables -t nat -A POSTROUTING -m comment --comment "cni masquerade" -j CNI-E2E',
  'iptables -t nat -N FLANNEL-E2E-POSTRTG && iptables -t nat -A POSTROUTING -j FLANNEL-E2E-POSTRTG',
  'mkdir -p /var/lib/cni/networks/cbr0 && echo 10.0.0.2 > /var/lib/cni/networks/cbr0/last_reserved_ip.0',
  // Someone else's: must stay.
  'iptables -N ACME-KEEP && iptables -A INPUT -j ACME-KEEP',
].join(' && ');

/** What of ours is still on host i, one line per finding: empty when the reset was complete. */
async function leftovers(hosts: LabHosts, i: number): Promise<string[]> {
  const script = [
    `for u in ${OURS.join(' ')}; do [ -e /etc/systemd/system/$u.service ] && echo "unit $u"; systemctl is-active -q $u && echo "running $u"; done`,
    `for d in ${FOLDERS.join(' ')}; do [ -e "$d" ] && echo "folder $d"; done`,
    'for i in cni0 flannel.1; do [ -e /sys/class/net/$i ] && echo "interface $i"; done',
    'awk \'$2 ~ /^\\/var\\/lib\\/kubelet\\// {print "mount " $2}\' /proc/mounts',
    "iptables-save | grep -E '^:(KUBE|FLANNEL|CNI)-|-j (KUBE|FLANNEL|CNI)-' | sed 's/^/iptables /'",
    "grep -q '^# BEGIN kubestrap' /etc/hosts && echo 'hosts block'",
    ':',
  ].join('\n');
  return (await hosts.run(i, script)).split('\n').filter(Boolean);
}

function statuses(report: JsonReport): Array<[string, string]> {
  return report.hosts.map((h) => [h.host, h.status]);
}

describe.skipIf(!labAvailable())('reset: kubestrap off the hosts, without cutting the branch it sits on', () => {
  const hosts = useLabHosts(2, { prefix: 'rs' });
  const cluster = useLabCluster(hosts);
  let pool: SshPool | undefined;
  afterAll(() => pool?.closeAll());
  const worker = () => hosts.host(1).name;

  it('init makes the cluster', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    expect(run.code, `${run.stderr}\n${errorsOf(report)}`).toBe(0);
  });

  it('refuses to reset a host the running cluster still counts (--limit), before any change', async () => {
    const run = await cluster.cli(['reset', '--yes', '--limit', worker()]);
    expect(run.code).toBe(2);
    expect(run.stdout + run.stderr).toContain(`${worker()}: is still a member of the running cluster (its Node is registered)`);
    expect((await hosts.run(1, 'systemctl is-active kubelet')).trim()).toBe('active');
  });

  it('reset --yes --delete-etcd-data leaves nothing of ours on any host, keeps what is not ours, and an SSH session opened before it lives on', async () => {
    await hosts.run(1, LEAVE_RUNTIME_STATE);
    const forwardPolicy = await hosts.run(1, 'iptables -S FORWARD | head -n 1');
    const spec = loadClusterSpec({ inventoryFile: cluster.inventory, configFile: cluster.config });
    pool = new SshPool({ knownHostsFile: spec.knownHostsFile, acceptNewHostKeys: false });
    const session = await pool.connect(spec.hosts[1]!.ssh);
    expect((await session.run('echo before')).stdout).toBe('before\n');

    const run = await cluster.cli(['reset', '--yes', '--delete-etcd-data']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const i of [0, 1]) expect([hosts.host(i).name, await leftovers(hosts, i)]).toEqual([hosts.host(i).name, []]);
    expect((await session.run('echo after')).stdout).toBe('after\n');
    expect(await hosts.run(1, 'iptables -S FORWARD | head -n 1')).toBe(forwardPolicy);
    expect(await hosts.run(1, 'iptables -S INPUT')).toContain('-A INPUT -j ACME-KEEP');
    // The local PKI stays for the next init, and says where it is.
    expect(run.stderr).toMatch(/the cluster's PKI is kept in \S+ \(its CAs exist nowhere else\)/);
  });

  it('a second reset changes nothing and says so', async () => {
    const run = await cluster.cli(['reset', '--yes']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Nothing to reset');
  });

  it('init on the same hosts succeeds again, with the PKI the reset kept', async () => {
    const { run, report } = await cluster.json('init', ['--yes']);
    expect(run.code, `${run.stderr}\n${errorsOf(report)}`).toBe(0);
    const health = await cluster.cli(['health']);
    expect(health.code, health.stdout).toBe(0);
  });

  it('a host that does not answer fails alone; the others are reset, and the next reset finishes it', async () => {
    await hosts.run(1, 'systemctl stop ssh');
    try {
      const run = await cluster.cli(['reset', '--yes', '--output', 'json']);
      const report = JSON.parse(run.stdout) as JsonReport;
      expect(run.code).toBe(1);
      expect(statuses(report)).toEqual([
        [hosts.host(0).name, 'changed'],
        [worker(), 'unreachable'],
      ]);
      expect(await leftovers(hosts, 0)).toEqual(['folder /var/lib/etcd']);
    } finally {
      await hosts.run(1, 'systemctl start ssh');
    }
    const again = await cluster.cli(['reset', '--yes', '--delete-etcd-data']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    for (const i of [0, 1]) expect(await leftovers(hosts, i)).toEqual([]);
  });
});
