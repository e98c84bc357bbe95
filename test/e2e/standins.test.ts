import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bakedStandin, KUBE_COMPONENTS } from '../lab/bundle.js';
import { bundleFile } from './support/bundle.js';
import { useLabHosts, type LabHosts } from './support/hosts.js';
import { TestPki, type CertFiles } from './support/pki.js';

/**
 * The Kubernetes stand-ins (test/standins) refuse what the real binaries refuse, so that the product
 * tested against them fails where it would fail against the real ones. Two lab hosts: `m` runs a real
 * etcd over TLS, the API server, controller-manager and scheduler; `w` runs containerd, kubelets,
 * kube-proxy and flanneld. Components run as transient systemd units with upstream's flags.
 */

const M = 0;
const W = 1;
const PKI = '/etc/kubernetes/pki';
const BIN = '/usr/local/bin';
const COMPONENTS = [...KUBE_COMPONENTS, 'flanneld'];
const CLUSTER_CIDR = '10.244.0.0/16';
const SERVICE_CIDR = '10.96.0.0/16';

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
    await putFile(hosts, i, '/tmp/files.tgz', execFileSync('tar', ['-C', dir, '-czf', '-', ...tops]));
    await hosts.run(i, 'tar -xzf /tmp/files.tgz -C / --no-overwrite-dir --no-same-owner && rm /tmp/files.tgz');
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
  let wName = '';
  let version = '';
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
    wName = hosts.host(W).name;
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
      'kubelet-noorg': [[W], pki.kubeconfig(api, ca, clients['kubelet-noorg'])],
      'kubelet-wrong-ca': [[W], pki.kubeconfig(api, etcdCa, clients.kubelet)],
      // The API server's certificate has no SAN 127.0.0.2: a kubelet dialing that address must not trust it.
      'kubelet-no-san': [[W], pki.kubeconfig('https://127.0.0.2:16443', ca, clients.kubelet)],
      'kube-proxy': [[W], pki.kubeconfig(api, ca, clients['kube-proxy'])],
      'kube-proxy-nobody': [[W], pki.kubeconfig(api, ca, clients['kube-proxy-nobody'])],
      flannel: [[W], pki.kubeconfig(api, ca, clients.flannel)],
    };

    // The python kubectl is tested here, whichever kubectl the bundle holds (the real one, once the API server stand-in answers it).
    const standinOf = (c: string) => (c === 'kubectl' ? bakedStandin(c, version, bundleFile(bundleDir, 'flanneld').version) : fs.readFileSync(bundleFile(bundleDir, c).file));
    const common: HostFile[] = [
      ...COMPONENTS.map((c) => ({ path: `${BIN}/${c}`, content: standinOf(c), mode: 0o755 })),
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
      expect(foreign.stderr).toMatch(/Unable to connect to the server: remote error: tls: (unknown certificate authority|bad certificate)/);

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
      expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
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
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.12.1
        args: ["-conf", "/etc/coredns/Corefile"]
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
      await service(hosts, M, 'kube-controller-manager', cmFlags(['--use-service-account-credentials=true', '--node-monitor-grace-period=8s']));
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
