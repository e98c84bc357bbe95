import { describe, expect, inject, it } from 'vitest';
import { useLabHosts, type LabHosts } from './support/hosts.js';

/**
 * A real etcd cluster across three lab hosts, built by hand from the lab repo: proves the hosts can
 * install packages, talk to each other on etcd's ports (once firewalld is off) and run Type=notify
 * services, which is what the product's etcd phase relies on.
 */
const unit = (name: string, ip: string, initialCluster: string): string => `[Unit]
Description=etcd member ${name} (lab test)
[Service]
Type=notify
User=etcd
ExecStart=/usr/bin/etcd --name ${name} --data-dir /var/lib/etcd/lab-${name} \\
  --listen-peer-urls http://${ip}:2380 --initial-advertise-peer-urls http://${ip}:2380 \\
  --listen-client-urls http://${ip}:2379,http://127.0.0.1:2379 --advertise-client-urls http://${ip}:2379 \\
  --initial-cluster ${initialCluster} --initial-cluster-state new --initial-cluster-token lab-e2e
[Install]
WantedBy=multi-user.target
`;

async function installEtcd(hosts: LabHosts, i: number): Promise<void> {
  await hosts.run(
    i,
    `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }
     systemctl disable --now etcd.service
     systemctl disable --now firewalld.service`,
  );
}

describe.skipIf(!inject('lab'))('a 3-member etcd cluster on lab hosts', () => {
  const hosts = useLabHosts(3, { prefix: 'etcd' });

  it('forms, reports healthy on every member and replicates writes', async () => {
    const members = hosts.all();
    const initialCluster = members.map((h) => `${h.name}=http://${h.address}:2380`).join(',');
    await Promise.all(members.map((_, i) => installEtcd(hosts, i)));
    for (const [i, h] of members.entries()) {
      await hosts.run(i, `cat > /etc/systemd/system/etcd-lab.service <<'UNIT'\n${unit(h.name, h.address, initialCluster)}UNIT\nsystemctl daemon-reload`);
    }
    // Type=notify blocks until quorum, so every member must be starting at the same time.
    await Promise.all(members.map((_, i) => hosts.run(i, 'systemctl start etcd-lab.service')));

    const endpoints = members.map((h) => `http://${h.address}:2379`).join(',');
    const health = await hosts.run(0, `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} endpoint health 2>&1`);
    for (const h of members) expect(health).toMatch(new RegExp(`http://${h.address.replace(/\./g, '\\.')}:2379 is healthy`));
    const list = await hosts.run(1, 'ETCDCTL_API=3 etcdctl member list');
    expect(list.trim().split('\n')).toHaveLength(3);

    await hosts.run(0, 'ETCDCTL_API=3 etcdctl put /lab/greeting hello-from-node-0');
    expect(await hosts.run(2, 'ETCDCTL_API=3 etcdctl get --print-value-only /lab/greeting')).toBe('hello-from-node-0\n');
  });
});
