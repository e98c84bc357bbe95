import { describe, expect, it } from 'vitest';
import { binariesForRoles, runtimeBinaries, serviceOfBinary } from '../../src/components/binaries.js';
import { COMPONENT_NAMES, component, componentsOn, isOn, portsOf, readsOf, runsOn, service, type ServiceName } from '../../src/components/catalog.js';
import { componentOfFile } from '../../src/components/files.js';
import { BINARIES, defaultProjectVersions, parseVersion, type BinaryName } from '../../src/upstream/index.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const versions = defaultProjectVersions();

const INVENTORY = `cluster: lab
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: m2, address: 10.0.0.12, roles: [master, worker] }
  - { name: w1, address: 10.0.0.13, roles: [worker] }
`;

describe('the component catalog: who owns a rendered file', () => {
  it.each([
    ['/etc/systemd/system/etcd.service', 'etcd'],
    ['/etc/systemd/system/etcd.service.d/10-tuning.conf', 'etcd'],
    ['/etc/kubernetes/audit-policy.yaml', 'kube-apiserver'],
    ['/etc/kubernetes/kubelet-config.yaml', 'kubelet'],
    ['/etc/kubernetes/kubelet.env', 'kubelet'],
    ['/etc/kubernetes/kube-proxy-config.yaml', 'kube-proxy'],
    ['/etc/kube-flannel/net-conf.json', 'flanneld'],
    ['/etc/cni/net.d/10-flannel.conflist', 'cni-plugins'],
    ['/etc/containerd/config.toml', 'containerd'],
    ['/etc/docker/daemon.json', 'docker'],
    ['/etc/kubernetes/addons/coredns.yaml', 'addons'],
  ] as const)('%s belongs to %s', (path, owner) => {
    expect(componentOfFile(path)).toBe(owner);
  });

  it.each([
    '/etc/systemd/system/etcd.service.bak',
    '/etc/systemd/system/etcd.service.d/notes.txt',
    '/etc/kubernetes/kubeletconfig.yaml',
    '/etc/systemd/system/containerd.service',
    '/etc/sysctl.d/k8s.conf',
  ])('%s belongs to no component', (path) => {
    expect(componentOfFile(path)).toBeUndefined();
  });

  it('gives no file to two components', () => {
    const owned = COMPONENT_NAMES.flatMap((name) => component(name).files.map((f) => [name, f] as const));
    const prefix = (f: string) => /[/.-]$/.test(f);
    const clashes = owned.flatMap(([a, fa]) => owned.filter(([b, fb]) => a !== b && (fa === fb || (prefix(fa) && fb.startsWith(fa)))).map(([b, fb]) => `${a} ${fa} / ${b} ${fb}`));
    expect(clashes).toEqual([]);
  });
});

describe('the component catalog: binaries', () => {
  it("gives each role its components' binaries, role by role in catalog order", () => {
    expect(binariesForRoles(['etcd'], versions)).toEqual(['etcd', 'etcdctl', 'etcdutl']);
    expect(binariesForRoles(['etcd'], { ...versions, etcd: parseVersion('v3.4.23')! })).toEqual(['etcd', 'etcdctl']);
    expect(binariesForRoles(['master'], versions)).toEqual(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'etcdctl', 'flanneld']);
    expect(binariesForRoles(['worker'], versions)).toEqual(['kubelet', 'kube-proxy', 'kubectl', 'flanneld', 'flannel', 'bridge', 'host-local', 'loopback', 'portmap']);
    expect(binariesForRoles(['worker', 'etcd'], versions).slice(0, 4)).toEqual(['etcd', 'etcdctl', 'etcdutl', 'kubelet']);
  });

  it("leaves the container runtime's binaries to the runtime", () => {
    expect(runtimeBinaries()).toEqual(['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'docker', 'dockerd', 'docker-proxy', 'docker-init']);
    expect(binariesForRoles(['etcd', 'master', 'worker'], versions).filter((b) => runtimeBinaries().includes(b))).toEqual([]);
  });

  it("knows every binary kubestrap installs, each daemon its own service's", () => {
    const listed = new Set(COMPONENT_NAMES.flatMap((name) => component(name).binaries));
    expect(Object.keys(BINARIES).filter((b) => !listed.has(b as BinaryName))).toEqual([]);
    for (const name of COMPONENT_NAMES) {
      const daemon = component(name).service?.daemon;
      if (daemon) expect([name, component(name).binaries.includes(daemon)]).toEqual([name, true]);
    }
  });

  it("restarts a service for its daemon's binary only", () => {
    expect(serviceOfBinary('kube-apiserver')).toBe('kube-apiserver');
    expect(serviceOfBinary('etcd')).toBe('etcd');
    expect(serviceOfBinary('flanneld')).toBe('flanneld');
    // A runtime upgrade that replaces only the binaries (a patch release) must restart the daemons too.
    expect(serviceOfBinary('containerd')).toBe('containerd');
    expect(serviceOfBinary('dockerd')).toBe('docker');
    expect(serviceOfBinary('runc')).toBeUndefined();
    expect(serviceOfBinary('containerd-shim-runc-v2')).toBeUndefined();
    expect(serviceOfBinary('etcdctl')).toBeUndefined();
    expect(serviceOfBinary('kubectl')).toBeUndefined();
    expect(serviceOfBinary('portmap')).toBeUndefined();
  });
});

describe('the component catalog: where components run', () => {
  const tmp = useTempDir();
  const cluster = (config = '') => clusterFrom(tmp(), config, INVENTORY);
  const host = (spec: ReturnType<typeof cluster>, name: string) => spec.hosts.find((h) => h.name === name)!;

  it('puts components on the hosts of their roles', () => {
    const spec = cluster();
    expect(componentsOn(host(spec, 'm1'))).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'etcdctl', 'flanneld', 'addons']);
    expect(componentsOn(host(spec, 'w1'))).toEqual(['kubelet', 'kube-proxy', 'kubectl', 'flanneld', 'cni-plugins', 'containerd', 'docker', 'api-lb']);
  });

  it('runs flanneld on masters and workers, but in kube mode not on a master without a kubelet', () => {
    const etcdMode = cluster();
    expect(['m1', 'm2', 'w1'].map((n) => runsOn(etcdMode, host(etcdMode, n), 'flanneld'))).toEqual([true, true, true]);
    const kubeMode = cluster('FLANNEL_MODE=kube\n');
    expect(['m1', 'm2', 'w1'].map((n) => runsOn(kubeMode, host(kubeMode, n), 'flanneld'))).toEqual([false, true, true]);
    // Its binary and PKI files still go to every host of its roles.
    expect(isOn(host(kubeMode, 'm1'), 'flanneld')).toBe(true);
  });

  it("has flanneld read etcd's CA and its client certificate in etcd mode, its kubeconfig in kube mode", () => {
    expect(readsOf(cluster(), 'flanneld')).toEqual(['etcdCaCert', 'etcdFlannelClientCert', 'etcdFlannelClientKey']);
    expect(readsOf(cluster('FLANNEL_MODE=kube\n'), 'flanneld')).toEqual(['flannelConf']);
  });

  it("lists each service's ports in the order client, peer, secure, healthz, metrics, and the setting that chooses one", () => {
    const spec = cluster('KUBE_APISERVER_PORT=7443\n');
    const ports = (name: ServiceName) => portsOf(spec, name);
    expect(ports('etcd')).toEqual([{ port: 2379 }, { port: 2380 }]);
    expect(ports('kube-apiserver')).toEqual([{ port: 7443, setting: 'KUBE_APISERVER_PORT' }]);
    expect(ports('kubelet')).toEqual([{ port: 10250 }, { port: 10248 }]);
    expect(ports('kube-proxy')).toEqual([{ port: 10256 }, { port: 10249 }]);
    expect(ports('flanneld')).toEqual([]);
  });

  it("rolls the members of etcd's quorum and the control plane, and the node agents everywhere at once", () => {
    const services = COMPONENT_NAMES.filter((n): n is ServiceName => component(n).service !== undefined);
    expect(services.filter((n) => service(n).rolling)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
  });
});
