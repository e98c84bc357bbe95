import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/engine/resource.js';
import { detectOs } from '../../src/os/detect.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { phaseOfFile } from '../../src/phases/file-ownership.js';
import { modulesIn, osPhase, sysctlsIn } from '../../src/phases/os-prep.js';
import { renderCluster, type RenderedFile } from '../../src/render/render-cluster.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { factsFor, type OsName } from '../os/os-releases.js';
import { hostValues } from '../../src/phases/index.js';

/** What the phases assume of a host not read yet (as `bootstrap render` does). */
const freshHost = (h: Parameters<typeof hostValues>[0]) => hostValues(h, undefined);

const rendered = (path: string, content: string): RenderedFile => ({ path, content, mode: 0o644, owner: 'root', group: 'root', restarts: [], template: `all${path}`, secret: false });

describe('osPhase.resources', () => {
  const tmp = useTempDir();

  function resourcesFor(os: OsName, config = '', hostName = 'm1'): Resource[] {
    const spec = clusterFrom(tmp(), config);
    const { hosts, problems } = renderCluster(spec, BUNDLED_UNITS, freshHost);
    expect(problems.map((p) => p.format())).toEqual([]);
    const mine = hosts.find((h) => h.host.name === hostName)!;
    const facts = factsFor(os);
    const files = mine.files.filter((f) => phaseOfFile(f.path) === 'os');
    return osPhase.resources({ spec, host: mine.host, facts, os: detectOs(hostName, facts), files });
  }
  const summary = (resources: Resource[]) =>
    resources.map((r) => {
      switch (r.kind) {
        case 'file':
          return `file ${r.path}`;
        case 'sysctl':
          return `sysctl ${r.key}=${r.value}`;
        case 'kernelModule':
          return `module ${r.name}`;
        case 'firewallOff':
          return `firewallOff ${r.services.join(',')}`;
        case 'package':
          return `package ${r.names.join(',')}`;
        case 'hostname':
          return `hostname ${r.name}`;
        case 'command':
          return `command ${r.name}`;
        default:
          return r.kind;
      }
    });

  it('prepares a Debian host: ufw and firewalld off, no SELinux, modules and sysctls from the rendered files', () => {
    expect(summary(resourcesFor('debian12'))).toEqual([
      'firewallOff ufw,firewalld',
      'swapOff',
      // The distribution's iptables, and the tools kubestrap runs that the host lacks (src/os/host-tools.ts): none here.
      'package iptables',
      'hostsEntries',
      'file /etc/modules-load.d/k8s.conf',
      'file /etc/profile.d/kubestrap-path.sh',
      'file /etc/sysctl.d/k8s.conf',
      'file /etc/profile.d/kubestrap-etcdctl.sh',
      'file /etc/profile.d/kubestrap-kubeconfig.sh',
      'module br_netfilter',
      'module overlay',
      'sysctl net.ipv4.ip_forward=1',
      'sysctl net.bridge.bridge-nf-call-iptables=1',
      'sysctl net.bridge.bridge-nf-call-ip6tables=1',
      'command iptables-forward-accept',
      'hostname m1',
    ]);
  });

  it("prepares an EL host: firewalld off, SELinux permissive, iptables under its release's name", () => {
    const resources = resourcesFor('rocky93');
    expect(summary(resources).slice(0, 4)).toEqual(['firewallOff firewalld', 'selinux', 'swapOff', 'package iptables-nft']);
    expect(summary(resourcesFor('centos7'))[3]).toBe('package iptables');
    expect(resources).toContainEqual({ kind: 'selinux', mode: 'permissive' });
    expect(resourcesFor('debian12').some((r) => r.kind === 'selinux')).toBe(false);
  });

  it('lists every cluster host in /etc/hosts, by its cluster address', () => {
    const hosts = resourcesFor('debian12', '', 'w1').find((r) => r.kind === 'hostsEntries');
    expect(hosts).toEqual({
      kind: 'hostsEntries',
      entries: [
        { ip: '10.0.0.11', names: ['m1'] },
        { ip: '10.0.0.12', names: ['w1'] },
        { ip: '10.0.0.13', names: ['e1'] },
      ],
    });
  });

  it('installs the rendered files with their mode, owner and content', () => {
    const sysctl = resourcesFor('debian12').find((r) => r.kind === 'file' && r.path === '/etc/sysctl.d/k8s.conf');
    expect(sysctl).toMatchObject({ mode: 0o644, owner: 'root', group: 'root', restarts: [] });
    expect(sysctl?.kind === 'file' && sysctl.content).toContain('net.ipv4.ip_forward = 1');
  });

  it('follows the configuration: ipvs modules where kube-proxy runs, extra sysctls', () => {
    const config = 'KUBE_PROXY_MODE=ipvs\nEXTRA_SYSCTLS=vm.max_map_count=262144,net.ipv4.ip_forward=1\n';
    expect(summary(resourcesFor('debian12', config, 'm1')).filter((r) => r.startsWith('module '))).toEqual(['module br_netfilter', 'module overlay']);
    const resources = summary(resourcesFor('debian12', config, 'w1'));
    expect(resources.filter((r) => r.startsWith('module '))).toEqual([
      'module br_netfilter',
      'module overlay',
      'module ip_vs',
      'module ip_vs_rr',
      'module ip_vs_wrr',
      'module ip_vs_sh',
      'module nf_conntrack',
    ]);
    expect(resources).toContain('sysctl vm.max_map_count=262144');
    expect(resources.filter((r) => r.startsWith('sysctl net.ipv4.ip_forward'))).toEqual(['sysctl net.ipv4.ip_forward=1']);
  });
});

describe('modulesIn and sysctlsIn', () => {
  it('reads module names, skipping comments, blank lines and files elsewhere', () => {
    const files = [rendered('/etc/modules-load.d/k8s.conf', '# boot\nbr_netfilter\n\n  overlay  \n; old\nip_vs\n'), rendered('/etc/sysctl.d/k8s.conf', 'not_a_module\n')];
    expect(modulesIn(files)).toEqual(['br_netfilter', 'overlay', 'ip_vs']);
  });

  it('never takes a name that a command would read as an option', () => {
    const files = [rendered('/etc/modules-load.d/k8s.conf', '--first-time\n-v\noverlay\n'), rendered('/etc/sysctl.d/k8s.conf', '--system=1\n--net.x = 1\n-net.ipv4.ip_forward = 1\n')];
    expect(modulesIn(files)).toEqual(['overlay']);
    expect(sysctlsIn(files)).toEqual([['net.ipv4.ip_forward', '1']]);
  });

  it('reads key=value and key = value, skipping # and ; comments and blank lines', () => {
    const files = [
      rendered(
        '/etc/sysctl.d/50-k8s.conf',
        '# comment = no\n; also = no\n\nnet.ipv4.ip_forward=1\nnet.bridge.bridge-nf-call-iptables = 1\n-net.ipv6.conf.all.forwarding = 1\nnet.ipv4.ip_local_port_range = 1024\t65000\n',
      ),
    ];
    expect(sysctlsIn(files)).toEqual([
      ['net.ipv4.ip_forward', '1'],
      ['net.bridge.bridge-nf-call-iptables', '1'],
      ['net.ipv6.conf.all.forwarding', '1'],
      ['net.ipv4.ip_local_port_range', '1024\t65000'],
    ]);
  });

  it('lets a later file override a key, as sysctl --system does', () => {
    const files = [rendered('/etc/sysctl.d/50-a.conf', 'vm.swappiness = 10\nkernel.pid_max = 65536\n'), rendered('/etc/sysctl.d/60-b.conf', 'vm.swappiness=0\n')];
    expect(sysctlsIn(files)).toEqual([
      ['vm.swappiness', '0'],
      ['kernel.pid_max', '65536'],
    ]);
  });

  it('orders files by name as sysctl --system does, not by the template tree', () => {
    // all/ renders before worker/, but 99-*.conf is applied after 10-*.conf at boot.
    const files = [rendered('/etc/sysctl.d/99-site.conf', 'vm.swappiness = 1\n'), rendered('/etc/sysctl.d/10-worker.conf', 'vm.swappiness = 60\n')];
    expect(sysctlsIn(files)).toEqual([['vm.swappiness', '1']]);
  });

  it('ignores files sysctl and modules-load never read (no .conf suffix)', () => {
    const files = [rendered('/etc/sysctl.d/README', 'vm.swappiness = 1\n'), rendered('/etc/modules-load.d/notes.txt', 'dummy\n')];
    expect(sysctlsIn(files)).toEqual([]);
    expect(modulesIn(files)).toEqual([]);
  });
});

describe('phaseOfFile', () => {
  it.each([
    ['/etc/systemd/system/etcd.service', 'etcd'],
    ['/etc/systemd/system/kube-apiserver.service', 'control-plane'],
    ['/etc/systemd/system/kube-controller-manager.service', 'control-plane'],
    ['/etc/systemd/system/kube-scheduler.service', 'control-plane'],
    ['/etc/systemd/system/flanneld.service', 'network'],
    ['/etc/kube-flannel/net-conf.json', 'network'],
    ['/etc/cni/net.d/10-flannel.conflist', 'network'],
    ['/etc/systemd/system/kubelet.service', 'workers'],
    ['/etc/systemd/system/kube-proxy.service', 'workers'],
    ['/etc/kubernetes/kubelet-config.yaml', 'workers'],
    ['/etc/kubernetes/kube-proxy-config.yaml', 'workers'],
    ['/etc/docker/daemon.json', 'runtime'],
    ['/etc/containerd/config.toml', 'runtime'],
    ['/etc/sysctl.d/k8s.conf', 'os'],
    ['/etc/modules-load.d/k8s.conf', 'os'],
    ['/etc/foo', 'os'],
    ['/etc/systemd/system/etcd.service.d/10-tuning.conf', 'etcd'],
    ['/etc/systemd/system/kubelet.service.d/proxy.conf', 'workers'],
    ['/etc/systemd/system/my-agent.service.d/x.conf', 'os'],
  ] as const)('%s belongs to %s', (path, phase) => {
    expect(phaseOfFile(path)).toBe(phase);
  });

  const tmp = useTempDir();

  it('gives every bundled file of every host a phase, and the os phase only sysctl.d, modules-load.d and login shell settings', () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), ''), BUNDLED_UNITS, freshHost);
    const paths = [...new Set(hosts.flatMap((h) => h.files.map((f) => f.path)))];
    expect(paths.length).toBeGreaterThan(10);
    expect(paths.filter((p) => phaseOfFile(p) === 'os').sort()).toEqual([
      '/etc/modules-load.d/k8s.conf',
      '/etc/profile.d/kubestrap-etcdctl.sh',
      '/etc/profile.d/kubestrap-kubeconfig.sh',
      '/etc/profile.d/kubestrap-path.sh',
      '/etc/sysctl.d/k8s.conf',
    ]);
  });
});
