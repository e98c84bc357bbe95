import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { cutLink, labStatus, restoreLink, startHost, stopHost } from '../lab/index.js';
import { REPO_ROOT } from '../lab/paths.js';
import { useLabHosts } from './support/hosts.js';
import { sshRun } from './support/ssh.js';

describe.skipIf(!inject('lab'))('lab hosts are real, separate servers', () => {
  const hosts = useLabHosts(2);

  it('each host has its own hostname, machine-id and IP, and systemd as PID 1', async () => {
    const facts = await Promise.all(
      [0, 1].map(async (i) => ({
        hostname: (await hosts.run(i, 'hostname')).trim(),
        machineId: (await hosts.run(i, 'cat /etc/machine-id')).trim(),
        ip: (await hosts.run(i, "ip -4 -o addr show dev host0 | awk '{print $4}'")).trim(),
        pid1: (await hosts.run(i, 'cat /proc/1/comm')).trim(),
      })),
    );
    expect(facts.map((f) => f.hostname)).toEqual([hosts.host(0).name, hosts.host(1).name]);
    expect(facts.map((f) => f.ip)).toEqual([`${hosts.host(0).address}/24`, `${hosts.host(1).address}/24`]);
    expect(facts[0]?.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(facts[0]?.machineId).not.toBe(facts[1]?.machineId);
    expect(facts.map((f) => f.pid1)).toEqual(['systemd', 'systemd']);
  });

  it('answers ssh with the lab key under strict host key checking, as root, ops and opspw', async () => {
    const root = await sshRun(hosts.lab, hosts.host(0), 'hostname');
    expect(root).toMatchObject({ code: 0, stdout: `${hosts.host(0).name}\n` });
    expect((await sshRun(hosts.lab, hosts.host(0), 'sudo -n id -u', 'ops')).stdout).toBe('0\n');
    const noPassword = await sshRun(hosts.lab, hosts.host(0), 'sudo -n id -u', 'opspw');
    expect(noPassword.code).not.toBe(0);
    expect(noPassword.stderr).toMatch(/password is required/);
    const withPassword = await sshRun(hosts.lab, hosts.host(0), "echo opspw-lab-pass | sudo -S -p '' id -u", 'opspw');
    expect(withPassword.stdout).toBe('0\n');
  });

  it('keeps disks apart: a file written on one host is absent on the other', async () => {
    await hosts.run(0, 'echo hello > /root/only-here');
    expect((await hosts.exec(1, 'test -e /root/only-here')).code).not.toBe(0);
    expect(await hosts.run(0, 'cat /root/only-here')).toBe('hello\n');
  });

  it('runs units: systemctl enable --now of a small service', async () => {
    await hosts.run(
      0,
      `printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/lab-probe.service
       systemctl daemon-reload && systemctl enable --now lab-probe.service`,
    );
    expect((await hosts.run(0, 'systemctl is-active lab-probe.service')).trim()).toBe('active');
    expect((await hosts.run(0, 'systemctl is-enabled lab-probe.service')).trim()).toBe('enabled');
  });

  it('is a fresh CentOS-like server: firewalld running, swap in fstab', async () => {
    // firewalld can still be starting right after ssh answers.
    const state = await hosts.run(0, 'for i in $(seq 50); do systemctl is-active -q firewalld && break; sleep 0.2; done; systemctl is-active firewalld');
    expect(state.trim()).toBe('active');
    expect(await hosts.run(0, 'cat /etc/fstab')).toMatch(/^\/swapfile\s+none\s+swap/m);
  });

  it('has the kernel features of this machine: built-in modules load, missing ones fail', async () => {
    expect((await hosts.exec(0, 'modprobe br_netfilter')).code).toBe(0);
    expect((await hosts.exec(0, 'modprobe overlay')).code).toBe(0);
    const ipvs = await hosts.exec(0, 'modprobe ip_vs');
    expect(ipvs.code).not.toBe(0);
    expect(ipvs.stderr).toMatch(/not found/);
    // Per network namespace sysctls work; kernel-wide ones are read-only inside a host.
    expect((await hosts.exec(0, 'sysctl -w net.ipv4.ip_forward=1')).code).toBe(0);
    expect((await hosts.exec(0, 'sysctl -w vm.swappiness=10')).code).not.toBe(0);
  });

  it('runs `npm run lab -- exec` with each argument as it was given: a | in a pattern is no pipe', async () => {
    await hosts.run(0, "printf 'a\\nb\\nc\\n' > /root/abc");
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'test/lab/cli.ts', 'exec', hosts.host(0).name, '--name', hosts.lab.name, '--', 'grep', '-E', 'a|b', '/root/abc'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect({ status: cli.status, stdout: cli.stdout }).toEqual({ status: 0, stdout: 'a\nb\n' });
  });

  it('can be stopped and started again, keeping its disk', async () => {
    const lab = hosts.lab.name;
    const h = hosts.host(1);
    await hosts.run(1, 'echo kept > /root/survives-restart');
    await stopHost(lab, h.name);
    expect((await labStatus(lab)).find((s) => s.name === h.name)).toMatchObject({ running: false, sshOk: false });
    await startHost(lab, h.name);
    expect((await labStatus(lab)).find((s) => s.name === h.name)).toMatchObject({ running: true, sshOk: true });
    expect(await hosts.run(1, 'cat /root/survives-restart')).toBe('kept\n');
  });

  it('can lose its network link and get it back', async () => {
    const lab = hosts.lab.name;
    const h = hosts.host(1);
    await cutLink(lab, h.name);
    expect((await sshRun(hosts.lab, h, 'true', 'root', 2)).code).not.toBe(0);
    // From the other host too: the host is off the network, not just off the machine.
    expect((await hosts.exec(0, `ping -c1 -W1 ${h.address}`)).code).not.toBe(0);
    await restoreLink(lab, h.name);
    expect((await sshRun(hosts.lab, h, 'hostname')).stdout).toBe(`${h.name}\n`);
    expect((await hosts.exec(0, `ping -c1 -W1 ${h.address}`)).code).toBe(0);
  });
});
