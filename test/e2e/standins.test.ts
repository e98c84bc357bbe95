import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { bakedStandin, KUBE_COMPONENTS } from '../lab/bundle.js';
import { hostDir } from '../lab/paths.js';
import { bundleFile } from './support/bundle.js';
import { useLabHosts, type LabHosts } from './support/hosts.js';
import { TestPki, type CertFiles } from './support/pki.js';

/**
 * The Kubernetes stand-ins (test/standins) refuse what the real binaries refuse, so that the product
 * tested against them fails where it would fail against the real ones; the clients and data path
 * around them are real: kubectl (from the lab bundle), containerd, runc and the CNI plugins. Two lab
 * hosts: `m` runs a real etcd over TLS, the API server, controller-manager and scheduler; `w` runs
 * containerd, kubelets, kube-proxy and flanneld; for pods, `m` becomes a node too. Components run as
 * transient systemd units with upstream's flags.
 */

const M = 0;
const W = 1;
const PKI = '/etc/kubernetes/pki';
const BIN = '/usr/local/bin';
const CNI_BIN = '/opt/cni/bin';
const STANDINS = [...KUBE_COMPONENTS.filter((c) => c !== 'kubectl'), 'flanneld'];
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];
const CLUSTER_CIDR = '10.244.0.0/16';
const SERVICE_CIDR = '10.96.0.0/16';
const FLANNEL_PREFIX = '/kubestrap/network';

/** The real kubectl: the bundle's. */
function realKubectl(bundleDir: string): string {
  return bundleFile(bundleDir, 'kubectl').file;
}

/** The image the lab bundle holds for a component (pause, coredns): its reference and archive. */
function bundleImage(bundleDir: string, component: string): { ref: string; file: string } {
  const entry = loadManifest(path.join(bundleDir, MANIFEST_FILE)).manifest.artifacts.find((a) => a.component === component && a.kind === 'image');
  if (!entry?.image || !entry.file) throw new Error(`the lab bundle ${bundleDir} has no ${component} image`);
  return { ref: entry.image, file: path.join(bundleDir, entry.file) };
}

/**
 * containerd's config on the lab's hosts: the bundle's pause image for sandboxes (no registry is
 * reachable), the CNI plugins' folders, and restrict_oom_score_adj: containerd starts every sandbox with
 * oom_score_adj -998, which needs CAP_SYS_RESOURCE, and this machine has none to give (runc would fail
 * with "can't get final child's PID from pipe: EOF"). Format 3 for containerd 2.x, 2 for 1.x.
 */
function containerdConfig(major: number, pause: string): string {
  const lines =
    major >= 2
      ? [
          'version = 3',
          "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
          `  sandbox = "${pause}"`,
          "[plugins.'io.containerd.cri.v1.runtime']",
          '  restrict_oom_score_adj = true',
          "[plugins.'io.containerd.cri.v1.runtime'.cni]",
          `  bin_dirs = ["${CNI_BIN}"]`,
          '  conf_dir = "/etc/cni/net.d"',
        ]
      : [
          'version = 2',
          '[plugins."io.containerd.grpc.v1.cri"]',
          `  sandbox_image = "${pause}"`,
          '  restrict_oom_score_adj = true',
          '[plugins."io.containerd.grpc.v1.cri".cni]',
          `  bin_dir = "${CNI_BIN}"`,
          '  conf_dir = "/etc/cni/net.d"',
        ];
  return `${lines.join('\n')}\n`;
}

/**
 * A file's path on the controller inside host i's root (its overlay, as mounted for nspawn), for large
 * transfers: only in /var/tmp, after checking that no link leads the path out of the host's root.
 */
function stagingPath(hosts: LabHosts, i: number, name: string): { local: string; remote: string } {
  const root = path.join(hostDir(hosts.lab.name, hosts.host(i).machine), 'merged');
  const dir = path.join(root, 'var', 'tmp');
  if (fs.realpathSync(dir) !== dir) throw new Error(`${dir} is not a plain folder inside the host's root`);
  return { local: path.join(dir, name), remote: `/var/tmp/${name}` };
}

/** Copies a local file into host i in chunks (a shell argument holds at most 128 KiB). */
async function putFile(hosts: LabHosts, i: number, remote: string, content: Buffer | string, mode = '0644'): Promise<void> {
  const b64 = Buffer.from(content).toString('base64');
  const tmp = `${remote}.b64`;
  await hosts.run(i, `mkdir -p ${path.dirname(remote)} && : > ${tmp}`);
  for (let at = 0; at < b64.length; at += 96_000) await hosts.run(i, `printf %s '${b64.slice(at, at + 96_000)}' >> ${tmp}`);
  await hosts.run(i, `base64 -d ${tmp} > ${remote} && rm ${tmp} && chmod ${mode} ${remote}`);
}

interface HostFile {
  path: string;
  content: Buffer | string;
  mode: number;
}

/** Installs many files into host i in one transfer: a tarball unpacked at / (existing directories keep their modes). */
async function putFiles(hosts: LabHosts, i: number, files: HostFile[]): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-files-'));
  try {
    for (const f of files) {
      const local = path.join(dir, f.path);
      fs.mkdirSync(path.dirname(local), { recursive: true });
      fs.writeFileSync(local, f.content);
      fs.chmodSync(local, f.mode);
    }
    const tops = [...new Set(files.map((f) => f.path.split('/').filter(Boolean)[0] ?? ''))];
    // Written straight into the host's root: the binaries (a real kubectl among them) are too big for a shell line.
    const tgz = stagingPath(hosts, i, `files-${process.pid}-${i}.tgz`);
    execFileSync('tar', ['-C', dir, '-czf', tgz.local, ...tops]);
    await hosts.run(i, `tar -xzf ${tgz.remote} -C / --no-overwrite-dir --no-same-owner && rm ${tgz.remote}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A transient systemd service running a command line (stopped and reset first if it existed). `notify`:
 * Type=notify as the product's units for kube-apiserver, kubelet and flanneld, so systemd-run returns once
 * the component said READY (or failed); `noBlock` returns at once (a start that is expected to hang).
 */
async function service(hosts: LabHosts, i: number, unit: string, argv: string[], opts: { env?: Record<string, string>; notify?: boolean; noBlock?: boolean } = {}): Promise<void> {
  const props = [...Object.entries(opts.env ?? {}).map(([k, v]) => `--setenv=${k}=${v}`), ...(opts.notify ? ['-p Type=notify'] : []), ...(opts.noBlock ? ['--no-block'] : [])];
  await hosts.run(i, `systemctl stop ${unit} 2>/dev/null; systemctl reset-failed ${unit} 2>/dev/null; systemd-run --quiet --unit=${unit} -p Restart=no ${props.join(' ')} ${argv.join(' ')}`);
}

/** Polls a shell condition inside host i (one exec, not one per try); on timeout, shows the unit's journal. */
async function waitFor(hosts: LabHosts, i: number, condition: string, unit: string, seconds = 60): Promise<void> {
  const r = await hosts.exec(i, `end=$(($(date +%s) + ${seconds})); while [ $(date +%s) -lt $end ]; do if ${condition}; then exit 0; fi; sleep 0.25; done; exit 1`);
  if (r.code !== 0) {
    const journal = await hosts.exec(i, `journalctl -u ${unit} --no-pager | tail -25`);
    throw new Error(`timed out waiting for: ${condition}\njournal of ${unit}:\n${journal.stdout}`);
  }
}

/** Runs several commands in one exec (the machine is shared and slow): each one's exit code and output (stdout and stderr). */
async function runAll(hosts: LabHosts, i: number, commands: string[]): Promise<Array<{ code: number; output: string }>> {
  const script = commands.map((c, k) => `{ ${c} ; } >/tmp/run-all.${k} 2>&1; echo $? >/tmp/run-all.${k}.rc`).join('\n');
  const dump = commands.map((_, k) => `printf '\\n@@%s@@\\n' "$(cat /tmp/run-all.${k}.rc)"; cat /tmp/run-all.${k}`).join('; ');
  const out = await hosts.run(i, `${script}\n${dump}`);
  const parts = out.split(/\n@@(\d+)@@\n/).slice(1);
  return commands.map((_, k) => ({ code: Number(parts[2 * k]), output: parts[2 * k + 1] ?? '' }));
}

const journalHas = (unit: string, text: string): string => `journalctl -u ${unit} --no-pager | grep -qF -- ${shq(text)}`;
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(!inject('lab'))('the Kubernetes stand-ins against a real etcd over TLS', () => {
  const hosts = useLabHosts(2, { firewalld: false, swapInFstab: false, prefix: 'kube' });
  const pki = new TestPki();
  let m = '';
  let w = '';
  let mName = '';
  let wName = '';
  let version = '';
  let pause = '';
  let corednsImage = '';
  afterAll(() => pki.remove());

  const kubectl = (user: string, args: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    hosts.exec(user === 'node' ? W : M, `KUBECONFIG=/etc/kubernetes/${user}.conf ${BIN}/kubectl ${args}`);
  const admin = async (args: string): Promise<string> => {
    const r = await kubectl('admin', args);
    if (r.code !== 0) throw new Error(`kubectl ${args} exited ${r.code}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const etcdctlCommand = (): string =>
    `ETCDCTL_API=3 etcdctl --endpoints=https://${m}:2379 --cacert=${PKI}/etcd/ca.crt --cert=${PKI}/etcd/healthcheck-client.crt --key=${PKI}/etcd/healthcheck-client.key`;
  const etcdctl = (args: string): Promise<string> => hosts.run(M, `${etcdctlCommand()} ${args}`);

  const apiserverFlags = (over: Record<string, string> = {}): string[] => {
    const flags: Record<string, string> = {
      'advertise-address': m,
      'bind-address': '0.0.0.0',
      'secure-port': '6443',
      'authorization-mode': 'Node,RBAC',
      'enable-admission-plugins': 'NodeRestriction',
      'client-ca-file': `${PKI}/ca.crt`,
      'tls-cert-file': `${PKI}/apiserver.crt`,
      'tls-private-key-file': `${PKI}/apiserver.key`,
      'etcd-servers': `https://${m}:2379`,
      'etcd-cafile': `${PKI}/etcd/ca.crt`,
      'etcd-certfile': `${PKI}/apiserver-etcd-client.crt`,
      'etcd-keyfile': `${PKI}/apiserver-etcd-client.key`,
      'service-account-issuer': 'https://kubernetes.default.svc.cluster.local',
      'service-account-key-file': `${PKI}/sa.pub`,
      'service-account-signing-key-file': `${PKI}/sa.key`,
      'service-cluster-ip-range': SERVICE_CIDR,
      'service-node-port-range': '30000-32767',
      'kubelet-client-certificate': `${PKI}/apiserver-kubelet-client.crt`,
      'kubelet-client-key': `${PKI}/apiserver-kubelet-client.key`,
      'kubelet-certificate-authority': `${PKI}/ca.crt`,
      ...over,
    };
    return [
      `${BIN}/kube-apiserver`,
      ...Object.entries(flags)
        .filter(([, v]) => v !== '')
        .map(([k, v]) => `--${k}=${v}`),
    ];
  };

  const kubeletConfig = (extra: string[] = []): string =>
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'failCgroupV1: false',
      'cgroupDriver: cgroupfs',
      'containerRuntimeEndpoint: unix:///run/containerd/containerd.sock',
      'authentication:',
      '  anonymous:',
      '    enabled: false',
      '  x509:',
      `    clientCAFile: ${PKI}/ca.crt`,
      'authorization:',
      '  mode: Webhook',
      '  webhook:',
      '    cacheUnauthorizedTTL: 1s',
      'clusterDNS: [10.96.0.10]',
      'clusterDomain: cluster.local',
      ...extra,
      '',
    ].join('\n');

  /** A kubelet as a service, with its own config (ports) and kubeconfig. */
  const kubelet = async (unit: string, kubeconfig: string, extraConfig: string[], args: string[] = []): Promise<void> => {
    await putFile(hosts, W, `/etc/kubernetes/${unit}.yaml`, kubeletConfig(extraConfig));
    await service(hosts, W, unit, [`${BIN}/kubelet`, `--config=/etc/kubernetes/${unit}.yaml`, `--kubeconfig=/etc/kubernetes/${kubeconfig}.conf`, `--node-ip=${w}`, ...args], {
      notify: true,
      noBlock: true,
    });
  };

  beforeAll(async () => {
    const bundleDir = inject('bundleDir');
    if (!bundleDir) throw new Error('global setup provided no bundle');
    version = bundleFile(bundleDir, 'kubelet').version;
    [m, w] = [hosts.host(M).address, hosts.host(W).address];
    [mName, wName] = [hosts.host(M).name, hosts.host(W).name];
    pause = bundleImage(bundleDir, 'pause').ref;
    corednsImage = bundleImage(bundleDir, 'coredns').ref;
    const install = (i: number, pkgs: string): Promise<string> =>
      hosts.run(i, `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs} >/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }`);
    const installs = Promise.all([install(M, 'etcd-server etcd-client containerd'), install(W, 'containerd etcd-client')]);

    // Two CAs as kubeadm lays them out, plus a foreign one nobody trusts.
    const ca = pki.ca('kubernetes-ca');
    const etcdCa = pki.ca('etcd-ca');
    const foreignCa = pki.ca('foreign-ca');
    const certs: Record<string, CertFiles> = {
      ca: ca,
      'etcd/ca': etcdCa,
      apiserver: pki.issue(ca, 'apiserver', 'kube-apiserver', { sans: [m, '127.0.0.1', '10.96.0.1', 'kubernetes'], usage: ['server'] }),
      'apiserver-kubelet-client': pki.issue(ca, 'apiserver-kubelet-client', 'kube-apiserver-kubelet-client', { o: ['kubeadm:cluster-admins'], usage: ['client'] }),
      'apiserver-etcd-client': pki.issue(etcdCa, 'apiserver-etcd-client', 'kube-apiserver-etcd-client', { usage: ['client'] }),
      'etcd/server': pki.issue(etcdCa, 'etcd-server', m, { sans: [m, '127.0.0.1', 'localhost'], usage: ['server', 'client'] }),
      'etcd/healthcheck-client': pki.issue(etcdCa, 'etcd-healthcheck', 'kube-etcd-healthcheck-client', { usage: ['client'] }),
      'etcd/flannel-client': pki.issue(etcdCa, 'flannel-etcd', 'flannel', { usage: ['client'] }),
      kubelet: pki.issue(ca, 'kubelet-serving', wName, { sans: [w, wName], usage: ['server'] }),
      'kubelet-m': pki.issue(ca, 'kubelet-serving-m', mName, { sans: [m, mName], usage: ['server'] }),
      // An etcd client certificate from the wrong CA: etcd must refuse it.
      'wrong-etcd-client': pki.issue(ca, 'wrong-etcd-client', 'kube-apiserver-etcd-client', { usage: ['client'] }),
    };
    const sa = pki.rsaKeyPair('sa');
    const clients = {
      admin: pki.issue(ca, 'admin', 'kubernetes-admin', { o: ['system:masters'], usage: ['client'] }),
      'controller-manager': pki.issue(ca, 'cm', 'system:kube-controller-manager', { usage: ['client'] }),
      scheduler: pki.issue(ca, 'scheduler', 'system:kube-scheduler', { usage: ['client'] }),
      jane: pki.issue(ca, 'jane', 'jane', { o: ['dev'], usage: ['client'] }),
      foreign: pki.issue(foreignCa, 'foreign', 'kubernetes-admin', { o: ['system:masters'], usage: ['client'] }),
      kubelet: pki.issue(ca, 'kubelet-client', `system:node:${wName}`, { o: ['system:nodes'], usage: ['client'] }),
      'kubelet-m': pki.issue(ca, 'kubelet-client-m', `system:node:${mName}`, { o: ['system:nodes'], usage: ['client'] }),
      'kubelet-noorg': pki.issue(ca, 'kubelet-noorg', 'system:node:noorg', { usage: ['client'] }),
      'kube-proxy': pki.issue(ca, 'kube-proxy', 'system:kube-proxy', { usage: ['client'] }),
      'kube-proxy-nobody': pki.issue(ca, 'kube-proxy-nobody', 'nobody', { usage: ['client'] }),
      flannel: pki.issue(ca, 'flannel', 'flannel', { usage: ['client'] }),
    };
    const api = `https://${m}:6443`;
    const kubeconfigs: Record<string, [number[], string]> = {
      admin: [[M], pki.kubeconfig(api, ca, clients.admin)],
      jane: [[M], pki.kubeconfig(api, ca, clients.jane)],
      foreign: [[M], pki.kubeconfig(api, ca, clients.foreign)],
      'controller-manager': [[M], pki.kubeconfig('https://127.0.0.1:6443', ca, clients['controller-manager'])],
      scheduler: [[M], pki.kubeconfig('https://127.0.0.1:6443', ca, clients.scheduler)],
      node: [[W], pki.kubeconfig(api, ca, clients.kubelet)],
      'node-m': [[M], pki.kubeconfig(api, ca, clients['kubelet-m'])],
      'kubelet-noorg': [[W], pki.kubeconfig(api, ca, clients['kubelet-noorg'])],
      'kubelet-wrong-ca': [[W], pki.kubeconfig(api, etcdCa, clients.kubelet)],
      // The API server's certificate has no SAN 127.0.0.2: a kubelet dialing that address must not trust it.
      'kubelet-no-san': [[W], pki.kubeconfig('https://127.0.0.2:16443', ca, clients.kubelet)],
      'kube-proxy': [[M, W], pki.kubeconfig(api, ca, clients['kube-proxy'])],
      'kube-proxy-nobody': [[W], pki.kubeconfig(api, ca, clients['kube-proxy-nobody'])],
      flannel: [[W], pki.kubeconfig(api, ca, clients.flannel)],
    };

    // The bundle's binaries: the stand-ins, the real kubectl and CNI plugins. The python kubectl, which only tests the API
    // server stand-in now, and the flannel CNI plugin (a stand-in whichever script the bundle holds) are baked here.
    const flannelVersion = bundleFile(bundleDir, 'flanneld').version;
    const common: HostFile[] = [
      ...STANDINS.map((c) => ({ path: `${BIN}/${c}`, content: fs.readFileSync(bundleFile(bundleDir, c).file), mode: 0o755 })),
      { path: `${BIN}/kubectl`, content: fs.readFileSync(realKubectl(bundleDir)), mode: 0o755 },
      { path: `${BIN}/standin-kubectl`, content: bakedStandin('kubectl', version, flannelVersion), mode: 0o755 },
      ...CNI_PLUGINS.map((p) => ({ path: `${CNI_BIN}/${p}`, content: fs.readFileSync(bundleFile(bundleDir, p).file), mode: 0o755 })),
      { path: `${CNI_BIN}/flannel`, content: bakedStandin('flannel', version, flannelVersion), mode: 0o755 },
      ...['pause', 'coredns'].map((c) => ({ path: `/var/lib/kubestrap-e2e/images/${c}.tar`, content: fs.readFileSync(bundleImage(bundleDir, c).file), mode: 0o644 })),
      ...Object.entries(certs).flatMap(([name, files]) => [
        { path: `${PKI}/${name}.crt`, content: fs.readFileSync(files.cert), mode: 0o644 },
        { path: `${PKI}/${name}.key`, content: fs.readFileSync(files.key), mode: 0o600 },
      ]),
      { path: `${PKI}/sa.key`, content: fs.readFileSync(sa.key), mode: 0o600 },
      { path: `${PKI}/sa.pub`, content: fs.readFileSync(sa.pub), mode: 0o644 },
      { path: '/usr/local/bin/forward.py', content: FORWARDER, mode: 0o755 },
    ];
    const kubeconfigsOf = (i: number): HostFile[] =>
      Object.entries(kubeconfigs)
        .filter(([, [on]]) => on.includes(i))
        .map(([name, [, text]]) => ({ path: `/etc/kubernetes/${name}.conf`, content: text, mode: 0o600 }));
    await Promise.all([M, W].map((i) => putFiles(hosts, i, [...common, ...kubeconfigsOf(i)])));
    await installs;
    // The runtime as a node's would be set up (its config, the bundle's images), on both hosts: m becomes a node for pods.
    await Promise.all(
      [M, W].map(async (i) => {
        const major = Number(/\s(\d+)\.\d+\.\d+/.exec(await hosts.run(i, 'containerd --version'))?.[1] ?? 1);
        await putFile(hosts, i, '/etc/containerd/config.toml', containerdConfig(major, pause));
        await hosts.run(i, 'systemctl restart containerd && for t in /var/lib/kubestrap-e2e/images/*.tar; do ctr -n k8s.io images import "$t" >/dev/null || exit 1; done');
      }),
    );

    await hosts.run(M, 'systemctl disable --now etcd.service');
    await hosts.run(
      M,
      `systemd-run --quiet --unit=etcd-tls -p Type=notify /usr/bin/etcd --name=m --data-dir=/var/lib/etcd/standins \
      --listen-client-urls=https://${m}:2379,https://127.0.0.1:2379 --advertise-client-urls=https://${m}:2379 \
      --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 --initial-cluster=m=http://127.0.0.1:2380 \
      --cert-file=${PKI}/etcd/server.crt --key-file=${PKI}/etcd/server.key --client-cert-auth --trusted-ca-file=${PKI}/etcd/ca.crt`,
    );
    // A second runtime on w with the CRI plugin disabled, as docker-ce's containerd.io ships it (a version 1 config).
    await putFile(
      hosts,
      W,
      '/etc/containerd/nocri.toml',
      ['root = "/var/lib/containerd-nocri"', 'state = "/run/containerd-nocri"', 'disabled_plugins = ["cri"]', '[grpc]', '  address = "/run/containerd-nocri/containerd.sock"', ''].join('\n'),
    );
    await hosts.run(W, 'systemd-run --quiet --unit=containerd-nocri /usr/bin/containerd --config /etc/containerd/nocri.toml');
  });

  describe('version gates', () => {
    /** Copies of stand-ins that believe they are other Kubernetes versions (`component@v1.x.y`), to test per-version behaviour. */
    const asVersions = async (keys: string[]): Promise<(key: string) => string> => {
      const file = (key: string): string => `/opt/standins/${key.split('@')[1]}/${key.split('@')[0]}`;
      await hosts.run(
        W,
        [...new Set(keys)]
          .map((key) => `mkdir -p ${path.dirname(file(key))} && sed 's/^VERSION = .*/VERSION = "${key.split('@')[1]}"/' ${BIN}/${key.split('@')[0]} > ${file(key)} && chmod 755 ${file(key)}`)
          .join(' && '),
      );
      return file;
    };

    it('refuses each removed flag from the release that removed it, and accepts it the release before', async () => {
      const cases: Array<[string, string, number]> = [
        ['kubelet', '--pod-infra-container-image=registry.k8s.io/pause:3.10', 35],
        ['kubelet', '--cloud-config=/etc/cloud.conf', 34],
        ['kubelet', '--register-schedulable=false', 34],
        ['kubelet', '--keep-terminated-pod-volumes', 31],
        ['kubelet', '--container-runtime=remote', 27],
        ['kubelet', '--network-plugin=cni', 24],
        ['kube-apiserver', '--cloud-provider=aws', 33],
        ['kube-apiserver', '--cloud-config=/etc/cloud.conf', 33],
        ['kube-apiserver', '--insecure-port=8080', 24],
        ['kube-controller-manager', '--volume-host-allow-local-loopback=false', 31],
        ['kube-controller-manager', '--pod-eviction-timeout=5m', 27],
        ['kube-scheduler', '--lock-object-name=x', 28],
        ['kube-proxy', '--proxy-port-range=30000-31000', 31],
        ['kube-scheduler', '--logtostderr=true', 26],
        ['kubelet', '--log-dir=/var/log/k8s', 26],
      ];
      const bin = await asVersions(cases.flatMap(([c, , minor]) => [`${c}@v1.${minor}.0`, `${c}@v1.${minor - 1}.0`]).concat('kubelet@v1.34.0'));
      const runs = await runAll(
        hosts,
        W,
        cases
          .flatMap(([c, flag, minor]) => [`${bin(`${c}@v1.${minor}.0`)} ${flag} --version`, `${bin(`${c}@v1.${minor - 1}.0`)} ${flag} --version`])
          .concat(`${bin('kubelet@v1.34.0')} --pod-infra-container-image=x --version`),
      );
      for (const [k, [component, flag, minor]] of cases.entries()) {
        const [refused, accepted] = [runs[2 * k], runs[2 * k + 1]];
        expect(refused?.code, `${component} ${flag} at 1.${minor}`).toBe(1);
        expect(refused?.output).toContain(`Error: unknown flag: ${flag.split('=')[0]}`);
        expect(accepted?.code, `${component} ${flag} at 1.${minor - 1}: ${accepted?.output}`).toBe(0);
        expect(accepted?.output).toContain(`Kubernetes v1.${minor - 1}.0\n`);
      }
      // Deprecated, not removed: still parsed, with upstream's warning.
      const warned = runs[runs.length - 1];
      expect(warned?.code).toBe(0);
      expect(warned?.output).toContain('Flag --pod-infra-container-image has been deprecated');
    });

    it('the kubelet refuses a cgroup v1 host from 1.35 unless its config says failCgroupV1: false', async () => {
      expect((await hosts.run(W, 'stat -fc %T /sys/fs/cgroup')).trim()).toBe('tmpfs');
      // A runtime endpoint that does not exist: a kubelet that gets past the cgroup check stops at the CRI check.
      const config = (extra: string): string => `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/none.sock\n${extra}`;
      await putFile(hosts, W, '/tmp/kc-default.yaml', config(''));
      await putFile(hosts, W, '/tmp/kc-v1ok.yaml', config('failCgroupV1: false\n'));
      const bin = await asVersions(['kubelet@v1.35.0', 'kubelet@v1.37.1', 'kubelet@v1.34.0']);
      const [r35, ok35, r37, ok37, old34] = await runAll(hosts, W, [
        `${bin('kubelet@v1.35.0')} --config=/tmp/kc-default.yaml`,
        `${bin('kubelet@v1.35.0')} --config=/tmp/kc-v1ok.yaml`,
        `${bin('kubelet@v1.37.1')} --config=/tmp/kc-default.yaml`,
        `${bin('kubelet@v1.37.1')} --config=/tmp/kc-v1ok.yaml`,
        `${bin('kubelet@v1.34.0')} --config=/tmp/kc-default.yaml`,
      ]);
      for (const refused of [r35, r37]) {
        expect(refused?.code).toBe(1);
        expect(refused?.output).toContain('kubelet is configured to not run on a host using cgroup v1');
      }
      for (const allowed of [ok35, ok37, old34]) {
        expect(allowed?.code).toBe(1);
        expect(allowed?.output).not.toContain('configured to not run on a host using cgroup v1');
        expect(allowed?.output).toContain('dial unix /run/none.sock: connect: no such file or directory');
      }
      expect(old34?.output).toContain('cgroup v1 support has been transitioned into maintenance mode');
    });

    it('the API server refuses removed and unknown admission plugins', async () => {
      const cases = [
        ['v1.30.0', 'SecurityContextDeny', true],
        ['v1.29.0', 'SecurityContextDeny', false],
        ['v1.31.0', 'PersistentVolumeLabel', true],
        ['v1.25.0', 'PodSecurityPolicy', true],
        ['v1.33.0', 'NodeRestrictions', true],
      ] as const;
      const bin = await asVersions(cases.map(([v]) => `kube-apiserver@${v}`));
      // etcd unreachable on purpose: a server that passes the checks keeps running, so `timeout` bounds it (exit 124).
      const runs = await runAll(
        hosts,
        W,
        cases.map(
          ([v, plugin], k) =>
            `timeout 5 ${bin(`kube-apiserver@${v}`)} --etcd-servers=https://127.0.0.1:1 --service-account-issuer=https://k --service-account-signing-key-file=${PKI}/sa.key --service-account-key-file=${PKI}/sa.pub --tls-cert-file=${PKI}/apiserver.crt --tls-private-key-file=${PKI}/apiserver.key --secure-port=${17000 + k} --enable-admission-plugins=NodeRestriction,${plugin}`,
        ),
      );
      for (const [k, [v, plugin, refused]] of cases.entries()) {
        expect(runs[k]?.code, `${plugin} at ${v}: ${runs[k]?.output}`).toBe(refused ? 1 : 124);
        if (refused) expect(runs[k]?.output).toContain(`enable-admission-plugins plugin "${plugin}" is unknown`);
      }
    });
  });

  describe('kube-apiserver', () => {
    it('refuses to start without the flags upstream requires, with unreadable files or a serving key that does not match', async () => {
      const [missing, unreadable, mismatched, badMode] = await runAll(
        hosts,
        M,
        [
          [`${BIN}/kube-apiserver`, `--tls-cert-file=${PKI}/apiserver.crt`, `--tls-private-key-file=${PKI}/apiserver.key`],
          apiserverFlags({ 'etcd-certfile': `${PKI}/nope.crt`, 'secure-port': '16443' }),
          apiserverFlags({ 'tls-private-key-file': `${PKI}/etcd/server.key`, 'secure-port': '16443' }),
          apiserverFlags({ 'authorization-mode': 'Node,RBAC,Nodes', 'secure-port': '16443' }),
        ].map((argv) => `timeout 10 ${argv.join(' ')}`),
      );
      for (const r of [missing, unreadable, mismatched, badMode]) expect(r?.code).toBe(1);
      expect(missing?.output).toContain('--etcd-servers must be specified');
      expect(missing?.output).toContain('service-account-issuer is a required flag');
      expect(missing?.output).toContain('service-account-signing-key-file and service-account-issuer are required flags');
      expect(unreadable?.output).toContain(`open ${PKI}/nope.crt: no such file or directory`);
      expect(mismatched?.output).toContain('tls: private key does not match public key');
      expect(badMode?.output).toContain('authorization-mode "Nodes" is not a valid mode');
    });

    it('stores its state in etcd through the etcd client certificate it was given', async () => {
      await service(hosts, M, 'kube-apiserver', apiserverFlags(), { notify: true });
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get --raw /readyz >/dev/null 2>&1`, 'kube-apiserver');
      expect(await admin('get --raw /readyz')).toBe('ok');
      // What the real server writes on first start, in the real etcd.
      const ns = JSON.parse(await etcdctl('get --print-value-only /registry/namespaces/kube-system')) as { metadata: { name: string } };
      expect(ns.metadata.name).toBe('kube-system');
      expect(await etcdctl('get --keys-only --prefix /registry/clusterrolebindings/')).toContain('/registry/clusterrolebindings/system:node-proxier');
      expect(JSON.parse(await admin('get service kubernetes -n default -o json')).spec.clusterIP).toBe('10.96.0.1');

      expect(await admin('create namespace team-a')).toBe('namespace/team-a created\n');
      const stored = JSON.parse(await etcdctl('get -w json /registry/namespaces/team-a')) as { kvs: Array<{ mod_revision: number }> };
      const served = JSON.parse(await admin('get namespace team-a -o json')) as { metadata: { resourceVersion: string } };
      expect(served.metadata.resourceVersion).toBe(String(stored.kvs[0]?.mod_revision));
      expect(await admin('delete namespace team-a')).toBe('namespace "team-a" deleted\n');
      expect(await etcdctl('get --keys-only /registry/namespaces/team-a')).toBe('');
    });

    it('is not ready while its etcd CA, client certificate or endpoint is wrong, and says why', async () => {
      const broken: Array<[string, Record<string, string>, string]> = [
        ['kube-apiserver-wrong-cert', { 'etcd-certfile': `${PKI}/wrong-etcd-client.crt`, 'etcd-keyfile': `${PKI}/wrong-etcd-client.key` }, 'remote error: tls:'],
        ['kube-apiserver-wrong-ca', { 'etcd-cafile': `${PKI}/ca.crt` }, 'x509: certificate signed by unknown authority'],
        ['kube-apiserver-wrong-endpoint', { 'etcd-servers': `https://${m}:2381` }, 'connect: connection refused'],
      ];
      for (const [i, [unit, flags, reason]] of broken.entries()) {
        const port = 16444 + i;
        await service(hosts, M, unit, apiserverFlags({ ...flags, 'secure-port': String(port) }));
        await waitFor(hosts, M, `curl -sk https://127.0.0.1:${port}/livez >/dev/null`, unit);
        const ready = await hosts.run(M, `curl -sk -w '\\n%{http_code}' https://127.0.0.1:${port}/readyz`);
        expect(ready).toContain('[-]etcd failed:');
        expect(ready).toContain(reason);
        expect(ready.trim().endsWith('500')).toBe(true);
        await hosts.run(M, `systemctl stop ${unit}`);
      }
    });

    it('lets anonymous clients see health only, refuses certificates from another CA, and authorizes the rest with RBAC', async () => {
      expect(await hosts.run(M, `curl -s --cacert ${PKI}/ca.crt https://${m}:6443/healthz`)).toBe('ok');
      const anonymous = JSON.parse(await hosts.run(M, `curl -s --cacert ${PKI}/ca.crt https://${m}:6443/api/v1/nodes`)) as { code: number; message: string };
      expect(anonymous.code).toBe(403);
      expect(anonymous.message).toBe('nodes is forbidden: User "system:anonymous" cannot list resource "nodes" in API group "" at the cluster scope');

      const foreign = await kubectl('foreign', 'get nodes');
      expect(foreign.code).toBe(1);
      expect(foreign.stderr).toMatch(/Unable to connect to the server: (readLoopPeekFailLocked: )?remote error: tls: (unknown certificate authority|bad certificate)/);

      const jane = await kubectl('jane', 'get configmaps -n kube-system');
      expect(jane.stderr).toBe('Error from server (Forbidden): configmaps is forbidden: User "jane" cannot list resource "configmaps" in API group "" in the namespace "kube-system"\n');
      expect(await admin('create clusterrolebinding jane-view --clusterrole=view --user=jane')).toBe('clusterrolebinding.rbac.authorization.k8s.io/jane-view created\n');
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/jane.conf ${BIN}/kubectl get configmaps -n kube-system >/dev/null 2>&1`, 'kube-apiserver', 10);
      expect((await kubectl('jane', 'get nodes')).stderr).toContain('User "jane" cannot list resource "nodes"');
      // RBAC's escalation check: jane may not grant herself what she does not hold.
      const escalate = await kubectl('jane', 'create clusterrolebinding jane-admin --clusterrole=cluster-admin --user=jane');
      expect(escalate.code).toBe(1);
      expect(escalate.stderr).toContain('User "jane" cannot create resource "clusterrolebindings"');
      await putFile(
        hosts,
        M,
        '/tmp/binder.yaml',
        [
          'apiVersion: rbac.authorization.k8s.io/v1',
          'kind: ClusterRole',
          'metadata:',
          '  name: binding-writer',
          'rules:',
          '- apiGroups: [rbac.authorization.k8s.io]',
          '  resources: [clusterrolebindings]',
          '  verbs: [create]',
          '---',
          'apiVersion: rbac.authorization.k8s.io/v1',
          'kind: ClusterRoleBinding',
          'metadata:',
          '  name: jane-binding-writer',
          'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: binding-writer}',
          'subjects: [{kind: User, name: jane}]',
          '',
        ].join('\n'),
      );
      await admin('apply -f /tmp/binder.yaml');
      await waitFor(
        hosts,
        M,
        `KUBECONFIG=/etc/kubernetes/jane.conf ${BIN}/kubectl create clusterrolebinding jane-admin --clusterrole=cluster-admin --user=jane 2>&1 | grep -q "attempting to grant RBAC permissions not currently held"`,
        'kube-apiserver',
        10,
      );
      expect((await kubectl('jane', 'create clusterrolebinding jane-view2 --clusterrole=view --user=jane')).stdout).toBe('clusterrolebinding.rbac.authorization.k8s.io/jane-view2 created\n');
      const again = await kubectl('admin', 'create clusterrolebinding jane-view --clusterrole=view --user=jane');
      expect(again.stderr).toBe('error: failed to create clusterrolebinding: clusterrolebindings.rbac.authorization.k8s.io "jane-view" already exists\n');
    });
  });

  describe('kubelets', () => {
    beforeAll(async () => {
      // The container network must be configured for a node to be Ready (the runtime reports NetworkReady).
      await putFile(
        hosts,
        W,
        '/etc/cni/net.d/10-flannel.conflist',
        JSON.stringify({
          name: 'cbr0',
          cniVersion: '0.3.1',
          plugins: [
            { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
            { type: 'portmap', capabilities: { portMappings: true } },
          ],
        }),
      );
    });

    it('registers its node and heartbeats with the identity of that node', async () => {
      await kubelet(
        'kubelet',
        'node',
        ['tlsCertFile: /etc/kubernetes/pki/kubelet.crt', 'tlsPrivateKeyFile: /etc/kubernetes/pki/kubelet.key'],
        ['--node-labels=node.kubernetes.io/pool=blue', '--register-with-taints=dedicated=infra:NoSchedule'],
      );
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get node ${wName} >/dev/null 2>&1`, 'kube-apiserver');
      await waitFor(hosts, W, journalHas('kubelet', 'Successfully registered node'), 'kubelet', 10);
      const node = JSON.parse(await admin(`get node ${wName} -o json`)) as {
        metadata: { labels: Record<string, string> };
        spec: { taints: Array<{ key: string }> };
        status: { addresses: Array<{ type: string; address: string }>; conditions: Array<{ type: string; status: string }>; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } };
      };
      expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': wName, 'kubernetes.io/os': 'linux', 'node.kubernetes.io/pool': 'blue' });
      expect(node.spec.taints.map((t) => t.key)).toContain('dedicated');
      expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: w });
      expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status.nodeInfo.kubeletVersion).toBe(version);
      expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/\d+\./);
      const lease = JSON.parse(await etcdctl(`get --print-value-only /registry/leases/kube-node-lease/${wName}`)) as { spec: { holderIdentity: string } };
      expect(lease.spec.holderIdentity).toBe(wName);
      expect(await admin('get nodes')).toMatch(new RegExp(`^${wName}\\s+Ready\\s+<none>\\s+\\d+s\\s+${version.replace(/\./g, '\\.')}$`, 'm'));
    });

    it('never registers a node for a client that is not that node, as Node authorization and NodeRestriction decide', async () => {
      await kubelet('kubelet-noorg', 'kubelet-noorg', ['port: 10260', 'healthzPort: 10258'], ['--hostname-override=noorg']);
      await kubelet('kubelet-impostor', 'node', ['port: 10261', 'healthzPort: 10259'], ['--hostname-override=impostor']);
      await waitFor(
        hosts,
        W,
        journalHas('kubelet-noorg', 'nodes is forbidden: User \\"system:node:noorg\\" cannot create resource \\"nodes\\" in API group \\"\\" at the cluster scope'),
        'kubelet-noorg',
        20,
      );
      await waitFor(hosts, W, journalHas('kubelet-impostor', `nodes \\"impostor\\" is forbidden: node \\"${wName}\\" is not allowed to modify node \\"impostor\\"`), 'kubelet-impostor', 20);
      expect(await admin('get nodes -o name')).toBe(`node/${wName}\n`);
      await hosts.run(W, 'systemctl stop kubelet-noorg kubelet-impostor');
    });

    it('never registers when the API server certificate does not match the kubeconfig CA or the address dialed', async () => {
      // 127.0.0.2 reaches the same API server, but its certificate has no SAN for that address.
      await service(hosts, W, 'forward-no-san', ['/usr/bin/python3', '/usr/local/bin/forward.py', '127.0.0.2', '16443', m, '6443']);
      await kubelet('kubelet-no-san', 'kubelet-no-san', ['port: 10262', 'healthzPort: 10263'], ['--hostname-override=nosan']);
      await kubelet('kubelet-wrong-ca', 'kubelet-wrong-ca', ['port: 10264', 'healthzPort: 10265'], ['--hostname-override=wrongca']);
      await waitFor(hosts, W, journalHas('kubelet-no-san', `x509: certificate is valid for ${m}, 127.0.0.1, 10.96.0.1, not 127.0.0.2`), 'kubelet-no-san', 20);
      await waitFor(hosts, W, journalHas('kubelet-wrong-ca', 'tls: failed to verify certificate: x509: certificate signed by unknown authority'), 'kubelet-wrong-ca', 20);
      expect(await admin('get nodes -o name')).toBe(`node/${wName}\n`);
      await hosts.run(W, 'systemctl stop kubelet-no-san kubelet-wrong-ca forward-no-san');
    });

    it('fails to start when its container runtime does not answer or has the CRI plugin disabled', async () => {
      await waitFor(hosts, W, 'test -S /run/containerd-nocri/containerd.sock', 'containerd-nocri', 20);
      expect(await hosts.run(W, 'ctr --address /run/containerd-nocri/containerd.sock plugins ls | grep -c "io.containerd.grpc.v1 *cri" || true')).toBe('0\n');
      await kubelet('kubelet-nocri', 'node', ['port: 10266', 'healthzPort: 10267'], ['--container-runtime-endpoint=unix:///run/containerd-nocri/containerd.sock']);
      await kubelet('kubelet-noruntime', 'node', ['port: 10268', 'healthzPort: 10269'], ['--container-runtime-endpoint=unix:///run/nothing/containerd.sock']);
      await waitFor(hosts, W, 'systemctl is-failed -q kubelet-nocri && systemctl is-failed -q kubelet-noruntime', 'kubelet-nocri', 20);
      expect(await hosts.run(W, 'journalctl -u kubelet-nocri --no-pager')).toContain('rpc error: code = Unimplemented desc = unknown service runtime.v1.RuntimeService');
      expect(await hosts.run(W, 'journalctl -u kubelet-noruntime --no-pager')).toContain('dial unix /run/nothing/containerd.sock: connect: no such file or directory');
    });

    it('refuses --node-labels in the kubernetes.io namespace that kubelets may not set', async () => {
      const r = await hosts.exec(W, `${BIN}/kubelet --config=/etc/kubernetes/kubelet.yaml --node-labels=node-role.kubernetes.io/worker=`);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [node-role.kubernetes.io/worker]");
    });

    it('lets the API server reach it only once the kubelet-api-admin binding exists', async () => {
      const logs = `get --raw /api/v1/nodes/${wName}/proxy/pods`;
      const denied = await kubectl('admin', logs);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/Forbidden \(user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource=(pods|proxy)\)/);
      await admin('create clusterrolebinding kube-apiserver:kubelet-apis --clusterrole=system:kubelet-api-admin --user=kube-apiserver-kubelet-client');
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl ${logs} >/dev/null 2>&1`, 'kube-apiserver', 20);
      expect(JSON.parse(await admin(logs))).toMatchObject({ kind: 'PodList', items: [] });
    });
  });

  describe('kubectl', () => {
    const coredns = (ip: string, corefileExtra = ''): string => `apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        errors
        kubernetes cluster.local in-addr.arpa ip6.arpa
        forward . /etc/resolv.conf${corefileExtra}
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  replicas: 2
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      tolerations:
      - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
      containers:
      - name: coredns
        image: ${corednsImage}
        args: ["-conf", "/etc/coredns/Corefile"]
        volumeMounts: [{name: config-volume, mountPath: /etc/coredns, readOnly: true}]
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
      dnsPolicy: Default
      volumes:
      - name: config-volume
        configMap: {name: coredns, items: [{key: Corefile, path: Corefile}]}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  selector:
    k8s-app: kube-dns
  clusterIP: ${ip}
  ports:
  - name: dns
    port: 53
    protocol: UDP
`;

    it('applies a CoreDNS manifest: created, then unchanged, then configured; and refuses a service IP outside the range', async () => {
      await putFile(hosts, M, '/tmp/coredns.yaml', coredns('10.96.0.10'));
      expect(await admin('apply -f /tmp/coredns.yaml')).toBe(
        [
          'serviceaccount/coredns created',
          'clusterrole.rbac.authorization.k8s.io/system:coredns created',
          'clusterrolebinding.rbac.authorization.k8s.io/system:coredns created',
          'configmap/coredns created',
          'deployment.apps/coredns created',
          'service/kube-dns created',
          '',
        ].join('\n'),
      );
      expect(await admin('apply -f /tmp/coredns.yaml')).toBe(
        [
          'serviceaccount/coredns unchanged',
          'clusterrole.rbac.authorization.k8s.io/system:coredns unchanged',
          'clusterrolebinding.rbac.authorization.k8s.io/system:coredns unchanged',
          'configmap/coredns unchanged',
          'deployment.apps/coredns unchanged',
          'service/kube-dns unchanged',
          '',
        ].join('\n'),
      );
      await putFile(hosts, M, '/tmp/coredns.yaml', coredns('10.96.0.10', '\n        cache 30'));
      expect(await admin('apply -f /tmp/coredns.yaml')).toContain('configmap/coredns configured\n');
      expect(JSON.parse(await etcdctl('get --print-value-only /registry/configmaps/kube-system/coredns')).data.Corefile).toContain('cache 30');
      expect(JSON.parse(await admin('get svc kube-dns -n kube-system -o json')).spec.clusterIP).toBe('10.96.0.10');

      await putFile(hosts, M, '/tmp/coredns-outside.yaml', coredns('10.100.0.10').replace(/name: kube-dns$/m, 'name: kube-dns2'));
      const outside = await kubectl('admin', 'apply -f /tmp/coredns-outside.yaml');
      expect(outside.code).toBe(1);
      expect(outside.stderr).toContain(
        'Service "kube-dns2" is invalid: spec.clusterIPs: Invalid value: []string{"10.100.0.10"}: failed to allocate IP 10.100.0.10: the provided IP (10.100.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
      );
    });

    it('labels and taints nodes as upstream kubectl does, and lists them as JSON', async () => {
      expect(await admin(`label node ${wName} node-role.kubernetes.io/worker=`)).toBe(`node/${wName} labeled\n`);
      const relabel = await kubectl('admin', `label node ${wName} node.kubernetes.io/pool=green`);
      expect(relabel.stderr).toBe("error: 'node.kubernetes.io/pool' already has a value (blue), and --overwrite is false\n");
      expect(await admin(`label node ${wName} node.kubernetes.io/pool=green --overwrite`)).toBe(`node/${wName} labeled\n`);
      expect(await admin(`taint node ${wName} node-role.kubernetes.io/control-plane:NoSchedule`)).toBe(`node/${wName} tainted\n`);
      const twice = await kubectl('admin', `taint node ${wName} node-role.kubernetes.io/control-plane:NoSchedule`);
      expect(twice.stderr).toBe(`error: node ${wName} already has node-role.kubernetes.io/control-plane taint(s) with same effect(s) and --overwrite is false\n`);
      expect(await admin(`taint node ${wName} dedicated-`)).toBe(`node/${wName} untainted\n`);
      const list = JSON.parse(await admin('get nodes -o json')) as {
        kind: string;
        items: Array<{ metadata: { labels: Record<string, string> }; spec: { taints: Array<{ key: string; effect: string }> } }>;
      };
      expect(list.kind).toBe('List');
      expect(list.items[0]?.metadata.labels).toMatchObject({ 'node-role.kubernetes.io/worker': '', 'node.kubernetes.io/pool': 'green' });
      expect(list.items[0]?.spec.taints).toContainEqual({ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' });
      expect(list.items[0]?.spec.taints.map((t) => t.key)).not.toContain('dedicated');
      expect(await admin('get nodes')).toMatch(new RegExp(`^${wName}\\s+Ready\\s+worker\\s`, 'm'));
      // NodeRestriction: a kubelet's credentials may not relabel its own node's role labels, nor touch its taints.
      const own = await kubectl('node', `label node ${wName} node-role.kubernetes.io/infra=`);
      expect(own.stderr).toContain(`is not allowed to modify labels: node-role.kubernetes.io/infra`);
      const missing = await kubectl('admin', 'get node nosuch');
      expect(missing.stderr).toBe('Error from server (NotFound): nodes "nosuch" not found\n');
    });

    it('kubectl 1.36 finds the API with two requests (aggregated discovery), then from its cache', async () => {
      const responses = async (): Promise<string[]> =>
        (await hosts.run(M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get nodes -o name -v=6 2>&1 >/dev/null | grep '"Response"'`)).trim().split('\n');
      await hosts.run(M, 'rm -rf /root/.kube/cache');
      const cold = await responses();
      expect(cold[0]).toMatch(/verb="GET" url="https:\/\/[^"]+\/api\?timeout=32s" status="200 OK"/);
      expect(cold[1]).toMatch(/verb="GET" url="https:\/\/[^"]+\/apis\?timeout=32s" status="200 OK"/);
      expect(cold.slice(2)).toEqual([expect.stringMatching(/verb="GET" url="https:\/\/[^"]+\/api\/v1\/nodes\?limit=500" status="200 OK"/)]);
      expect(await responses()).toEqual([expect.stringMatching(/\/api\/v1\/nodes\?limit=500" status="200 OK"/)]);
    });

    it('apply reads the OpenAPI v3 documents and leaves validation to the server; replace -f takes a List; errors are upstream Status objects', async () => {
      await putFile(hosts, M, '/tmp/applied.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\ndata:\n  a: "1"\n');
      const applied = await hosts.run(M, `rm -rf /root/.kube/cache; KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl apply -f /tmp/applied.yaml -v=6 2>&1`);
      expect(applied).toMatch(/url="https:\/\/[^"]+\/openapi\/v3\?timeout=32s" status="200 OK"/);
      expect(applied).toMatch(/url="https:\/\/[^"]+\/openapi\/v3\/api\/v1\?hash=[0-9A-F]+&timeout=32s" status="200 OK"/);
      expect(applied).toMatch(/verb="POST" url="https:\/\/[^"]+\/api\/v1\/namespaces\/default\/configmaps\?fieldManager=kubectl-client-side-apply&fieldValidation=Strict" status="201 Created"/);
      expect(applied).toContain('configmap/applied created\n');
      // A List through client-side validation (kubectl checks Lists against /openapi/v2, which holds no schemas here).
      expect(await hosts.run(M, `export KUBECONFIG=/etc/kubernetes/admin.conf; ${BIN}/kubectl get configmaps -n default -o json | ${BIN}/kubectl replace -f -`)).toContain(
        'configmap/applied replaced\n',
      );
      const stale = JSON.parse(await admin('get configmap applied -n default -o json')) as { metadata: { resourceVersion: string } };
      await admin('label configmap applied -n default touched=yes');
      await putFile(hosts, M, '/tmp/stale.json', JSON.stringify({ ...stale, data: { a: '2' } }));
      const conflict = await kubectl('admin', 'replace -f /tmp/stale.json');
      expect(conflict.code).toBe(1);
      expect(conflict.stderr).toBe(
        'Error from server (Conflict): error when replacing "/tmp/stale.json": Operation cannot be fulfilled on configmaps "applied": the object has been modified; please apply your changes to the latest version and try again\n',
      );
      const exists = await kubectl('admin', 'create configmap applied -n default');
      expect(exists.stderr).toBe('error: failed to create configmap: configmaps "applied" already exists\n');
    });

    it('wait watches (WatchList) until a condition holds or an object is gone; delete waits too; auth can-i and whoami answer', async () => {
      expect(await admin(`wait --for=condition=Ready node/${wName} --timeout=20s`)).toBe(`node/${wName} condition met\n`);
      const never = await kubectl('admin', `wait --for=condition=NoSuchCondition node/${wName} --timeout=2s`);
      expect(never.code).toBe(1);
      expect(never.stderr).toBe(`error: timed out waiting for the condition on nodes/${wName}\n`);
      expect(await admin('create configmap doomed -n default')).toBe('configmap/doomed created\n');
      const waited = kubectl('admin', 'wait --for=delete configmap/doomed -n default --timeout=20s');
      await new Promise((r) => setTimeout(r, 1000));
      expect(await admin('delete configmap doomed -n default')).toBe('configmap "doomed" deleted from default namespace\n');
      expect((await waited).stdout).toBe('configmap/doomed condition met\n');

      expect(await admin('auth can-i list pods -A')).toBe('yes\n');
      expect(await admin('auth can-i list configmaps -n kube-system --as=jane')).toBe('yes\n');
      // Impersonated, the review is of jane (with the groups of --as-group and system:authenticated only, as upstream), not
      // of the admin: she may create ClusterRoleBindings (binding-writer, granted above) but not delete them; the admin may.
      expect(await admin('auth can-i create clusterrolebindings --as=jane')).toBe('yes\n');
      const denied = await kubectl('admin', 'auth can-i delete clusterrolebindings --as=jane');
      expect([denied.code, denied.stdout]).toEqual([1, 'no\n']);
      expect(await admin('auth can-i delete clusterrolebindings')).toBe('yes\n');
      const grouped = await kubectl('admin', 'auth can-i delete clusterrolebindings --as=jane --as-group=system:masters');
      expect([grouped.code, grouped.stdout]).toEqual([0, 'yes\n']);
      const impersonating = await kubectl('jane', 'get configmaps -n kube-system --as=kubernetes-admin');
      expect(impersonating.stderr).toBe('Error from server (Forbidden): users "kubernetes-admin" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope\n');
      const whoami = JSON.parse((await kubectl('jane', 'auth whoami -o json')).stdout) as { status: { userInfo: { username: string; groups: string[] } } };
      expect(whoami.status.userInfo).toMatchObject({ username: 'jane', groups: ['dev', 'system:authenticated'] });
    });

    it('the python kubectl, now only a test of the API server stand-in, prints what the real kubectl prints for the commands kubestrap runs', async () => {
      await putFile(hosts, M, '/tmp/agree.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: agree\n  namespace: default\ndata:\n  a: "1"\n');
      const both = async (args: string, pythonArgs = args): Promise<void> => {
        const real = await kubectl('admin', args);
        const python = await hosts.exec(M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/standin-kubectl ${pythonArgs}`);
        expect({ args: pythonArgs, code: python.code, out: python.stdout, err: python.stderr }).toEqual({ args: pythonArgs, code: real.code, out: real.stdout, err: real.stderr });
      };
      await both('get nodes -o name');
      await both('get node nosuch');
      await both('get --raw /readyz');
      await both(`get node ${wName} -o name`);
      await both('create clusterrolebinding jane-view --clusterrole=view --user=jane');
      await both(`label node ${wName} e2e.kubestrap.io/real=yes`, `label node ${wName} e2e.kubestrap.io/python=yes`);
      await both(`taint node ${wName} e2e.kubestrap.io/real=yes:PreferNoSchedule`, `taint node ${wName} e2e.kubestrap.io/python=yes:PreferNoSchedule`);
      await both(`taint node ${wName} e2e.kubestrap.io/real-`, `taint node ${wName} e2e.kubestrap.io/python-`);
      expect(await admin('apply -f /tmp/agree.yaml')).toBe('configmap/agree created\n');
      await both('apply -f /tmp/agree.yaml');
    });
  });

  describe('controller-manager, scheduler, kube-proxy and flanneld', () => {
    const cmFlags = (extra: string[]): string[] => [
      `${BIN}/kube-controller-manager`,
      '--kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--bind-address=127.0.0.1',
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${CLUSTER_CIDR}`,
      '--node-cidr-mask-size=24',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--cluster-signing-cert-file=${PKI}/ca.crt`,
      `--cluster-signing-key-file=${PKI}/ca.key`,
      `--root-ca-file=${PKI}/ca.crt`,
      `--service-account-private-key-file=${PKI}/sa.key`,
      '--leader-elect=true',
      ...extra,
    ];

    it('flanneld in etcd mode writes no subnet file until its config is in etcd, then leases a subnet there', async () => {
      const flanneld = [
        `${BIN}/flanneld`,
        `--etcd-endpoints=https://${m}:2379`,
        '--etcd-prefix=/kubestrap/network',
        `--etcd-cafile=${PKI}/etcd/ca.crt`,
        `--etcd-certfile=${PKI}/etcd/flannel-client.crt`,
        `--etcd-keyfile=${PKI}/etcd/flannel-client.key`,
        '--iface=host0',
        '--ip-masq',
      ];
      await service(hosts, W, 'flanneld', flanneld, { notify: true, noBlock: true });
      await waitFor(hosts, W, journalHas('flanneld', 'flannel config not found in etcd store. Did you create your config using etcdv3 API?'), 'flanneld', 20);
      expect((await hosts.exec(W, 'test -e /run/flannel/subnet.env')).code).toBe(1);
      // Type=notify, as upstream's unit: flanneld is not started until it holds a lease.
      expect((await hosts.run(W, 'systemctl show -p ActiveState --value flanneld')).trim()).toBe('activating');
      await etcdctl(`put /kubestrap/network/config '{"Network": "${CLUSTER_CIDR}", "SubnetLen": 24, "Backend": {"Type": "vxlan"}}'`);
      await waitFor(hosts, W, 'test -s /run/flannel/subnet.env && systemctl is-active -q flanneld', 'flanneld', 20);
      const env = await hosts.run(W, 'cat /run/flannel/subnet.env');
      expect(env).toMatch(/^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n$/);
      const subnet = /FLANNEL_SUBNET=10\.244\.(\d+)\.1/.exec(env)?.[1];
      const lease = JSON.parse(await etcdctl(`get -w json /kubestrap/network/subnets/10.244.${subnet}.0-24`)) as { kvs: Array<{ value: string; lease: number }> };
      expect(JSON.parse(Buffer.from(lease.kvs[0]?.value ?? '', 'base64').toString())).toMatchObject({ PublicIP: w, BackendType: 'vxlan' });
      expect(lease.kvs[0]?.lease).toBeGreaterThan(0);
      // A restart keeps the subnet (flannel reuses its own lease).
      await service(hosts, W, 'flanneld', flanneld, { notify: true });
      await waitFor(hosts, W, journalHas('flanneld', 'reusing'), 'flanneld', 20);
      expect(await hosts.run(W, 'cat /run/flannel/subnet.env')).toBe(env);
    });

    it('the controller-manager needs service-account credentials to give nodes a podCIDR', async () => {
      await service(hosts, M, 'kube-controller-manager', cmFlags([]));
      await waitFor(
        hosts,
        M,
        journalHas('kube-controller-manager', `nodes \\"${wName}\\" is forbidden: User \\"system:kube-controller-manager\\" cannot patch resource \\"nodes\\"`),
        'kube-controller-manager',
        30,
      );
      // The grace period must outlast the kubelets' heartbeat (lease and status every 10 s, as upstream's defaults): with less,
      // a healthy node turns Unknown (and tainted unreachable) between two beats, as it would upstream.
      await service(hosts, M, 'kube-controller-manager', cmFlags(['--use-service-account-credentials=true', '--node-monitor-grace-period=20s']));
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get node ${wName} -o json | grep -q podCIDR`, 'kube-controller-manager', 30);
      const node = JSON.parse(await admin(`get node ${wName} -o json`)) as { spec: { podCIDR: string; taints: Array<{ key: string }> } };
      expect(node.spec.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect(await hosts.run(M, 'curl -sk https://127.0.0.1:10257/healthz')).toBe('ok');
      const lease = JSON.parse(await etcdctl('get --print-value-only /registry/leases/kube-system/kube-controller-manager')) as { spec: { holderIdentity: string } };
      expect(lease.spec.holderIdentity).toContain(hosts.host(M).name);
      expect(await etcdctl('get --keys-only /registry/serviceaccounts/kube-system/node-controller')).toContain('node-controller');
    });

    it('flanneld in kube mode retries until RBAC lets it in, follows the podCIDR the controller-manager set, and ends without a usable one', async () => {
      await putFile(hosts, W, '/etc/kube-flannel/net-conf.json', JSON.stringify({ Network: CLUSTER_CIDR, Backend: { Type: 'vxlan' } }));
      await service(
        hosts,
        W,
        'flanneld-kube',
        [`${BIN}/flanneld`, '--kube-subnet-mgr', '--kubeconfig-file=/etc/kubernetes/flannel.conf', '--iface=host0', '--subnet-file=/run/flannel/kube-subnet.env'],
        { env: { NODE_NAME: wName }, notify: true, noBlock: true },
      );
      await waitFor(hosts, W, journalHas('flanneld-kube', `nodes "${wName}" is forbidden: User "flannel" cannot get resource "nodes"`), 'flanneld-kube', 20);
      await putFile(
        hosts,
        M,
        '/tmp/flannel-rbac.yaml',
        `kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  name: flannel
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [nodes/status]
  verbs: [patch]
---
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  name: flannel
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: flannel
subjects:
- kind: User
  name: flannel
`,
      );
      await admin('apply -f /tmp/flannel-rbac.yaml');
      await waitFor(hosts, W, 'test -s /run/flannel/kube-subnet.env', 'flanneld-kube', 20);
      const podCidr = (JSON.parse(await admin(`get node ${wName} -o json`)) as { spec: { podCIDR: string } }).spec.podCIDR;
      expect(await hosts.run(W, 'cat /run/flannel/kube-subnet.env')).toBe(
        `FLANNEL_NETWORK=${CLUSTER_CIDR}\nFLANNEL_SUBNET=${podCidr.replace(/\.0\/24$/, '.1/24')}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      const node = JSON.parse(await admin(`get node ${wName} -o json`)) as { metadata: { annotations: Record<string, string> } };
      expect(node.metadata.annotations['flannel.alpha.coreos.com/public-ip']).toBe(w);

      // As upstream, flanneld ends (exit 1) when its node is missing or its podCIDR is outside the configured network.
      await putFile(hosts, W, '/etc/kube-flannel/other-net.json', JSON.stringify({ Network: '10.99.0.0/16', Backend: { Type: 'vxlan' } }));
      const once = (node: string, conf: string): string =>
        `NODE_NAME=${node} timeout 30 ${BIN}/flanneld --kube-subnet-mgr --kubeconfig-file=/etc/kubernetes/flannel.conf --iface=host0 --net-config-path=${conf} --subnet-file=/tmp/unused.env`;
      const [ghost, outside] = await runAll(hosts, W, [once('ghost', '/etc/kube-flannel/net-conf.json'), once(wName, '/etc/kube-flannel/other-net.json')]);
      expect(ghost?.code).toBe(1);
      expect(ghost?.output).toContain('Error registering network: failed to acquire lease: node "ghost" not found');
      expect(outside?.code).toBe(1);
      expect(outside?.output).toContain(`subnet "10.99.0.0/16" specified in the flannel net config doesn't contain "${podCidr}" PodCIDR of the "${wName}" node`);
    });

    it('the scheduler and kube-proxy authenticate with their kubeconfigs; an identity RBAC does not know stays unhealthy', async () => {
      await service(hosts, M, 'kube-scheduler', [`${BIN}/kube-scheduler`, '--kubeconfig=/etc/kubernetes/scheduler.conf', '--bind-address=127.0.0.1', '--leader-elect=true']);
      const proxyConfig = (kubeconfig: string, port: number): string =>
        [
          'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
          'kind: KubeProxyConfiguration',
          'clientConnection:',
          `  kubeconfig: /etc/kubernetes/${kubeconfig}.conf`,
          'mode: iptables',
          `clusterCIDR: ${CLUSTER_CIDR}`,
          `healthzBindAddress: 127.0.0.1:${port}`,
          '',
        ].join('\n');
      await putFile(hosts, W, '/etc/kubernetes/kube-proxy.yaml', proxyConfig('kube-proxy', 10256));
      await putFile(hosts, W, '/etc/kubernetes/kube-proxy-nobody.yaml', proxyConfig('kube-proxy-nobody', 10246));
      await service(hosts, W, 'kube-proxy', [`${BIN}/kube-proxy`, '--config=/etc/kubernetes/kube-proxy.yaml', `--hostname-override=${wName}`]);
      await service(hosts, W, 'kube-proxy-nobody', [`${BIN}/kube-proxy`, '--config=/etc/kubernetes/kube-proxy-nobody.yaml']);
      await waitFor(hosts, W, 'curl -sf http://127.0.0.1:10256/healthz >/dev/null', 'kube-proxy', 30);
      await waitFor(hosts, W, journalHas('kube-proxy-nobody', 'services is forbidden: User \\"nobody\\" cannot list resource \\"services\\"'), 'kube-proxy-nobody', 30);
      expect(await hosts.run(W, 'curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:10246/healthz')).toBe('503');
      await waitFor(hosts, M, `${etcdctlCommand()} get --keys-only /registry/leases/kube-system/kube-scheduler | grep -q kube-scheduler`, 'kube-scheduler', 30);
      expect(await hosts.run(M, 'curl -sk https://127.0.0.1:10259/healthz')).toBe('ok');
      await hosts.run(W, 'systemctl stop kube-proxy-nobody');
    });
  });

  describe('pods: the kubelet runs them through the real containerd and CNI plugins', () => {
    const node = (i: number): string => (i === M ? mName : wName);
    /** A pod's manifest: busybox from the lab's pause image (no registry is reachable), pinned to a node. */
    const podYaml = (name: string, on: number, script: string, extra = ''): string =>
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata:',
        `  name: ${name}`,
        `  labels: {app: ${name.replace(/-[a-z]$/, '')}, name: ${name}}`,
        'spec:',
        `  nodeSelector: {kubernetes.io/hostname: ${node(on)}}`,
        ...(extra ? [extra] : []),
        '  containers:',
        '  - name: main',
        `    image: ${pause}`,
        '    command: ["/bin/busybox", "sh", "-c"]',
        `    args: [${JSON.stringify(script)}]`,
        '',
      ].join('\n');
    const webScript = 'mkdir -p /www && hostname > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www';
    const podField = async (name: string, field: string): Promise<string> => admin(`get pod ${name} -o jsonpath='{${field}}'`);
    /** Runs a script in a one-shot pod on node `on` and returns how it ended and what it printed. */
    const runPod = async (name: string, on: number, script: string): Promise<{ phase: string; exitCode: string; log: string }> => {
      await putFile(hosts, M, `/tmp/${name}.yaml`, podYaml(name, on, script, '  restartPolicy: Never'));
      await admin(`apply -f /tmp/${name}.yaml`);
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get pod ${name} -o jsonpath='{.status.phase}' | grep -qE 'Succeeded|Failed'`, 'kube-apiserver', 60);
      const result = {
        phase: await podField(name, '.status.phase'),
        exitCode: await podField(name, '.status.containerStatuses[0].state.terminated.exitCode'),
        log: await admin(`logs ${name}`),
      };
      await admin(`delete pod ${name} --wait=false`);
      return result;
    };
    const subnetOf = async (i: number): Promise<string> => (/FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24/.exec(await hosts.run(i, 'cat /run/flannel/subnet.env')) ?? [])[1] ?? '';

    beforeAll(async () => {
      // m becomes a node like w: the CNI config, flanneld (etcd mode, as w's), a kubelet and kube-proxy.
      await hosts.run(W, 'systemctl stop flanneld-kube'); // the kube-mode flanneld of an earlier test would program routes of its own
      await putFile(hosts, M, '/etc/cni/net.d/10-flannel.conflist', await hosts.run(W, 'cat /etc/cni/net.d/10-flannel.conflist'));
      await service(
        hosts,
        M,
        'flanneld',
        [
          `${BIN}/flanneld`,
          `--etcd-endpoints=https://${m}:2379`,
          `--etcd-prefix=${FLANNEL_PREFIX}`,
          `--etcd-cafile=${PKI}/etcd/ca.crt`,
          `--etcd-certfile=${PKI}/etcd/flannel-client.crt`,
          `--etcd-keyfile=${PKI}/etcd/flannel-client.key`,
          '--iface=host0',
          '--ip-masq',
        ],
        { notify: true },
      );
      await putFile(hosts, M, '/etc/kubernetes/kubelet.yaml', kubeletConfig([`tlsCertFile: ${PKI}/kubelet-m.crt`, `tlsPrivateKeyFile: ${PKI}/kubelet-m.key`]));
      await service(hosts, M, 'kubelet', [`${BIN}/kubelet`, '--config=/etc/kubernetes/kubelet.yaml', '--kubeconfig=/etc/kubernetes/node-m.conf', `--node-ip=${m}`], { notify: true });
      await putFile(
        hosts,
        M,
        '/etc/kubernetes/kube-proxy.yaml',
        [
          'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
          'kind: KubeProxyConfiguration',
          'clientConnection:',
          '  kubeconfig: /etc/kubernetes/kube-proxy.conf',
          'mode: iptables',
          `clusterCIDR: ${CLUSTER_CIDR}`,
          `hostnameOverride: ${mName}`,
          'healthzBindAddress: 127.0.0.1:10256',
          '',
        ].join('\n'),
      );
      await service(hosts, M, 'kube-proxy', [`${BIN}/kube-proxy`, '--config=/etc/kubernetes/kube-proxy.yaml']);
      // w was tainted by the label and taint test; pods go to either node.
      await kubectl('admin', `taint node ${wName} node-role.kubernetes.io/control-plane:NoSchedule-`);
      await admin(`wait --for=condition=Ready node/${mName} node/${wName} --timeout=60s`);
    });

    it("a pod runs on its node: a sandbox with an IP from the node's flannel subnet, its container in the real containerd, its status in the API server", async () => {
      await putFile(hosts, M, '/tmp/web.yaml', [podYaml('web-w', W, webScript), podYaml('web-m', M, webScript)].join('---\n'));
      await admin('apply -f /tmp/web.yaml');
      expect(await admin('wait --for=condition=Ready pod/web-w pod/web-m --timeout=60s')).toBe('pod/web-w condition met\npod/web-m condition met\n');
      for (const [name, i] of [
        ['web-w', W],
        ['web-m', M],
      ] as const) {
        const pod = JSON.parse(await admin(`get pod ${name} -o json`)) as {
          spec: { nodeName: string };
          status: { phase: string; podIP: string; hostIP: string; containerStatuses: Array<{ containerID: string; ready: boolean; state: { running?: object } }> };
        };
        expect(pod.spec.nodeName).toBe(node(i));
        expect(pod.status).toMatchObject({ phase: 'Running', hostIP: i === M ? m : w });
        expect(pod.status.podIP.startsWith(`${await subnetOf(i)}.`)).toBe(true);
        const container = pod.status.containerStatuses[0]!;
        expect(container.state.running).toBeDefined();
        expect(container.containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
        // What the real runtime and CNI plugins hold for it on the node.
        expect(await hosts.run(i, 'ctr -n k8s.io containers ls -q')).toContain(container.containerID.slice('containerd://'.length));
        expect(await hosts.run(i, `grep -l '"type": "bridge"' /var/lib/cni/flannel/* | wc -l`)).not.toBe('0\n');
        expect(await hosts.run(i, `ls /var/lib/cni/networks/cbr0/`)).toContain(pod.status.podIP);
      }
      expect(await admin('get pods -o wide')).toMatch(new RegExp(`^web-w\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+\\d+\\.\\d+\\.\\d+\\.\\d+\\s+${wName}\\s`, 'm'));
    });

    it('a pod reaches a pod on another node through the route flanneld programs (as host-gw), and loses it without that route', async () => {
      const target = await podField('web-m', '.status.podIP');
      const subnet = `${await subnetOf(M)}.0/24`;
      expect(await hosts.run(W, `ip route show ${subnet}`)).toContain(`via ${m} dev host0`);
      const reached = await runPod('reach', W, `/bin/busybox wget -qO- http://${target}:8080/`);
      expect(reached).toEqual({ phase: 'Succeeded', exitCode: '0', log: 'web-m\n' });
      // Without w's route to m's subnet (flanneld frozen, so it cannot put it back), the pod cannot get there; thawed, it can.
      await hosts.run(W, `systemctl kill -s STOP flanneld && ip route del ${subnet}`);
      const cut = await runPod('cut', W, `/bin/busybox timeout 5 /bin/busybox wget -qO- http://${target}:8080/`);
      expect(cut.phase).toBe('Failed');
      await hosts.run(W, 'systemctl kill -s CONT flanneld');
      await waitFor(hosts, W, `ip route show ${subnet} | grep -q via`, 'flanneld', 20);
      expect((await runPod('back', W, `/bin/busybox wget -qO- http://${target}:8080/`)).log).toBe('web-m\n');
    });

    it('CoreDNS (the stand-in, in its pod) answers for Services from the API server: kubernetes.default, a new Service, names through the search path', async () => {
      const available = await kubectl('admin', 'wait --for=condition=Available deployment/coredns -n kube-system --timeout=90s');
      if (available.code !== 0) {
        const diagnosis = await hosts.exec(
          M,
          `export KUBECONFIG=/etc/kubernetes/admin.conf; ${BIN}/kubectl get pods -A -o wide; for p in $(${BIN}/kubectl get pods -n kube-system -o name); do ${BIN}/kubectl logs -n kube-system $p --tail=5; done`,
        );
        throw new Error(`CoreDNS is not available: ${available.stderr}\n${diagnosis.stdout}${diagnosis.stderr}`);
      }
      await putFile(hosts, M, '/tmp/web-svc.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n');
      await admin('apply -f /tmp/web-svc.yaml');
      const ip = await admin("get service web -o jsonpath='{.spec.clusterIP}'");
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get endpoints web -o jsonpath='{.subsets[0].addresses[1].ip}' | grep -q .`, 'kube-controller-manager', 30);
      const dns = await runPod(
        'dns',
        W,
        'cat /etc/resolv.conf; /bin/busybox nslookup kubernetes.default.svc.cluster.local; /bin/busybox nslookup web.default.svc.cluster.local; /bin/busybox wget -qO- http://web/',
      );
      expect(dns.phase).toBe('Succeeded');
      expect(dns.log).toContain('nameserver 10.96.0.10\n');
      expect(dns.log).toContain('search default.svc.cluster.local svc.cluster.local cluster.local');
      expect(dns.log).toMatch(/Name:\s+kubernetes\.default\.svc\.cluster\.local\nAddress: 10\.96\.0\.1\n/);
      expect(dns.log).toMatch(new RegExp(`Name:\\s+web\\.default\\.svc\\.cluster\\.local\\nAddress: ${ip.replace(/\./g, '\\.')}\\n`));
      expect(dns.log).toMatch(/web-[mw]\n$/);
      const missing = await runPod('nxdomain', M, '/bin/busybox nslookup nosuch.default.svc.cluster.local');
      expect(missing.log).toContain("can't find nosuch.default.svc.cluster.local: NXDOMAIN");
    });

    it('a Service IP answers through the DNAT rules kube-proxy programs, spreading connections over the ready pods', async () => {
      const ip = await admin("get service web -o jsonpath='{.spec.clusterIP}'");
      expect(await hosts.run(W, 'iptables -t nat -S KUBE-SERVICES')).toContain(`-A KUBE-SERVICES -d ${ip}/32 -p tcp -m tcp --dport 80 -m comment --comment "default/web cluster IP" -j KUBE-SVC-`);
      const hits = await runPod('svc', M, `for i in $(seq 12); do /bin/busybox wget -qO- http://${ip}/; done`);
      expect(hits.phase).toBe('Succeeded');
      expect(new Set(hits.log.trim().split('\n'))).toEqual(new Set(['web-m', 'web-w']));
      // The node itself reaches it too: nat OUTPUT jumps to KUBE-SERVICES, and the connection is masqueraded (its source is
      // outside the pod network). Upstream's kube-proxy adds no route for Service IPs in iptables mode: a node's default
      // route carries the packet until the DNAT rewrites it. The lab's hosts have no default route (nothing leaves the
      // lab), so without a route the node cannot even send (curl exits 7, "Network is unreachable"); a route for the
      // Service range alone, on the node's own link, stands in for it and keeps anything not DNATed on the lab's bridge.
      const unrouted = await hosts.exec(W, `ip route get ${ip}`);
      expect(unrouted.stderr, `${unrouted.stdout}${await hosts.run(W, 'ip route; iptables-save -t nat')}`).toContain('Network is unreachable');
      await hosts.run(W, `ip route replace ${SERVICE_CIDR} dev host0`);
      const fromNode = await hosts.exec(W, `curl -s --max-time 5 http://${ip}/`);
      if (fromNode.code !== 0) {
        const diagnosis = await hosts.exec(W, `ip route; ip route get ${ip}; iptables-save -t nat; curl -sv --max-time 5 http://${ip}/`);
        throw new Error(`curl from the node to ${ip} exited ${fromNode.code}\n${diagnosis.stdout}${diagnosis.stderr}`);
      }
      expect(fromNode.stdout).toMatch(/^web-[mw]\n$/);
      // Many times over: through the rule to either pod (the one on the node and the one behind flannel's route).
      const spread = await hosts.run(W, `for i in $(seq 12); do curl -s --max-time 5 http://${ip}/ || echo failed; done`);
      expect(new Set(spread.trim().split('\n'))).toEqual(new Set(['web-m', 'web-w']));
    });

    it('says why a pod cannot run: no node fits, an image that cannot be pulled, a container that fails', async () => {
      await putFile(hosts, M, '/tmp/nowhere.yaml', podYaml('nowhere', W, 'true').replace(`kubernetes.io/hostname: ${wName}`, 'kubernetes.io/hostname: nosuch'));
      await admin('apply -f /tmp/nowhere.yaml');
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get pod nowhere -o jsonpath='{.status.conditions[0].message}' | grep -q .`, 'kube-scheduler', 30);
      expect(await podField('nowhere', '.status.conditions[?(@.type=="PodScheduled")].message')).toBe(
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
      );
      await putFile(hosts, M, '/tmp/unpullable.yaml', podYaml('unpullable', W, 'true').replace(`image: ${pause}`, 'image: registry.example.invalid/nope:1.0'));
      await admin('apply -f /tmp/unpullable.yaml');
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get pods unpullable | grep -qE 'ErrImagePull|ImagePullBackOff'`, 'kube-apiserver', 60);
      expect(await podField('unpullable', '.status.containerStatuses[0].state.waiting.message')).toContain('registry.example.invalid/nope:1.0');
      const failed = await runPod('fails', M, 'echo giving up > /dev/termination-log; exit 3');
      expect(failed).toMatchObject({ phase: 'Failed', exitCode: '3' });
      await admin('delete pod nowhere unpullable');
    });

    it('deletes a pod gracefully: the kubelet stops its container within the grace period, removes the sandbox, and the pod is gone', async () => {
      const id = (await podField('web-w', '.status.containerStatuses[0].containerID')).slice('containerd://'.length);
      expect(await admin('delete pod web-w')).toBe('pod "web-w" deleted from default namespace\n');
      expect((await kubectl('admin', 'get pod web-w')).stderr).toBe('Error from server (NotFound): pods "web-w" not found\n');
      expect(await hosts.run(W, 'ctr -n k8s.io containers ls -q')).not.toContain(id);
      expect(await hosts.run(W, 'ctr -n k8s.io tasks ls -q')).not.toContain(id);
    });

    it('kubectl drain evicts through the eviction API: a PodDisruptionBudget that allows no disruption holds the pod, one that allows it lets it go', async () => {
      const pdb = (minAvailable: number) =>
        ['apiVersion: policy/v1', 'kind: PodDisruptionBudget', 'metadata: {name: evictee}', `spec: {minAvailable: ${minAvailable}, selector: {matchLabels: {app: evictee}}}`, ''].join('\n');
      await putFile(hosts, M, '/tmp/evictee.yaml', [podYaml('evictee', W, webScript), pdb(1)].join('---\n'));
      await admin('apply -f /tmp/evictee.yaml');
      await admin('wait --for=condition=Ready pod/evictee --timeout=60s');
      const held = await kubectl('admin', `drain ${wName} --ignore-daemonsets --delete-emptydir-data --force --timeout=8s`);
      expect(held.stderr).toContain("Cannot evict pod as it would violate the pod's disruption budget");
      expect(await podField('evictee', '.status.phase')).toBe('Running');
      await putFile(hosts, M, '/tmp/evictee-pdb.yaml', pdb(0));
      await admin('apply -f /tmp/evictee-pdb.yaml');
      const drained = await kubectl('admin', `drain ${wName} --ignore-daemonsets --delete-emptydir-data --force --timeout=60s`);
      expect(drained.stdout).toContain('pod/evictee evicted');
      expect((await kubectl('admin', 'get pod evictee')).stderr).toContain('not found');
      expect(await admin(`uncordon ${wName}`)).toContain('uncordoned');
      await admin('delete pdb evictee');
    });
  });

  describe('node lifecycle', () => {
    it('the controller-manager marks a node Unknown once its kubelet stops posting status', async () => {
      await hosts.run(W, 'systemctl stop kubelet');
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get nodes | grep -q "${wName} *NotReady"`, 'kube-controller-manager', 60);
      await waitFor(hosts, M, `KUBECONFIG=/etc/kubernetes/admin.conf ${BIN}/kubectl get node ${wName} -o json | grep -q node.kubernetes.io/unreachable`, 'kube-controller-manager', 20);
      const node = JSON.parse(await admin(`get node ${wName} -o json`)) as {
        spec: { taints: Array<{ key: string }> };
        status: { conditions: Array<{ type: string; status: string; reason: string }> };
      };
      expect(node.status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
      expect(node.spec.taints.map((t) => t.key)).toContain('node.kubernetes.io/unreachable');
    });
  });
});

/** A TCP forwarder (listen host port -> target host port): another address in front of the same server. */
const FORWARDER = `
import socket, sys, threading
lh, lp, th, tp = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind((lh, lp)); srv.listen(16)
while True:
    c, _ = srv.accept(); u = socket.create_connection((th, tp))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start(); threading.Thread(target=pipe, args=(u, c), daemon=True).start()
`;
