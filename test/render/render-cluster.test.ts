import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_KUBE_MINORS } from '../../src/upstream/index.js';
import { BUNDLED_UNITS } from '../../src/package-root.js';
import { prepareTemplates, renderCluster, type RenderedHost } from '../../src/render/render-cluster.js';
import { rejectedFlags } from '../../src/render/unit-guard.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir, writeTree } from '../support/tmp.js';
import { hostValues } from '../../src/phases/index.js';

/** What the phases assume of a host not read yet (as `bootstrap render` does). */
const freshHost = (h: Parameters<typeof hostValues>[0]) => hostValues(h, undefined);

/** Flags removed upstream, by the unit of the binary that rejects them; none may ever be rendered. */
const REMOVED_UPSTREAM: Record<string, string[]> = {
  'kube-apiserver.service': ['--insecure-bind-address', '--insecure-port', '--admission-control=', '--kubelet-https', '--enable-swagger-ui'],
  'kube-scheduler.service': ['--address=', '--port='],
  'kube-controller-manager.service': ['--address=', '--port='],
  'kubelet.service': ['--experimental-bootstrap-kubeconfig', '--allow-privileged', '--network-plugin', '--api-servers', '--pod-infra-container-image', '--container-runtime='],
};
const KLOG_REMOVED = ['--logtostderr', '--log-dir', '--alsologtostderr'];

function fileOf(hosts: RenderedHost[], host: string, path: string) {
  return hosts.find((h) => h.host.name === host)?.files.find((f) => f.path === path);
}

describe('renderCluster with the bundled units', () => {
  const tmp = useTempDir();

  it.each(SUPPORTED_KUBE_MINORS.map((minor) => `v1.${minor}.0`))('renders every host for %s with no flag the version rejects', (version) => {
    const spec = clusterFrom(tmp(), `KUBE_VERSION=${version}\n`);
    const { hosts, problems } = renderCluster(spec, BUNDLED_UNITS, freshHost);
    expect(problems.map((p) => p.format())).toEqual([]);
    for (const { files } of hosts) {
      for (const file of files) {
        expect(file.content).not.toMatch(/\{\{|\}\}|\{%/);
        const unit = file.path.split('/').at(-1)!;
        for (const flag of [...(REMOVED_UPSTREAM[unit] ?? []), ...KLOG_REMOVED]) expect(file.content, `${file.path} ${flag}`).not.toContain(flag);
        if (file.path.endsWith('.service')) expect(rejectedFlags(file.content, { kube: spec.kubeVersion, etcd: spec.versions.etcd })).toEqual([]);
      }
    }
  });

  it('gives each host the files of its roles only', () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), ''), BUNDLED_UNITS, freshHost);
    const paths = (name: string) =>
      hosts
        .find((h) => h.host.name === name)!
        .files.map((f) => f.path)
        .sort();
    expect(paths('e1')).toEqual([
      '/etc/modules-load.d/k8s.conf',
      '/etc/profile.d/kubestrap-etcdctl.sh',
      '/etc/profile.d/kubestrap-path.sh',
      '/etc/sysctl.d/k8s.conf',
      '/etc/systemd/system/etcd.service',
    ]);
    expect(paths('w1')).not.toContain('/etc/profile.d/kubestrap-kubeconfig.sh');
    expect(paths('m1')).toContain('/etc/systemd/system/kube-apiserver.service');
    expect(paths('m1')).toContain('/etc/systemd/system/flanneld.service');
    expect(paths('m1')).not.toContain('/etc/systemd/system/kubelet.service');
    expect(paths('w1')).toEqual(expect.arrayContaining(['/etc/systemd/system/kubelet.service', '/etc/docker/daemon.json', '/etc/systemd/system/flanneld.service']));
    expect(paths('w1')).not.toContain('/etc/systemd/system/etcd.service');
  });

  it('takes the pause image of the KUBE_VERSION minor from the upstream table, from K8S_IMAGE_REGISTRY', () => {
    const old = renderCluster(clusterFrom(tmp(), 'KUBE_VERSION=v1.31.4\n'), BUNDLED_UNITS, freshHost).hosts;
    const current = renderCluster(clusterFrom(tmp(), 'KUBE_VERSION=v1.36.0\nK8S_IMAGE_REGISTRY=mirror.example:5000/k8s\n'), BUNDLED_UNITS, freshHost).hosts;
    expect(fileOf(old, 'w1', '/etc/containerd/config.toml')!.content).toContain('sandbox_image = "registry.k8s.io/pause:3.10"');
    expect(fileOf(current, 'w1', '/etc/containerd/config.toml')!.content).toContain('sandbox_image = "mirror.example:5000/k8s/pause:3.10.1"');
  });

  it('renders failCgroupV1: false only when KUBELET_ALLOW_CGROUP_V1=true', () => {
    const kubelet = '/etc/kubernetes/kubelet-config.yaml';
    const plain = renderCluster(clusterFrom(tmp(), 'KUBE_VERSION=v1.37.2\n'), BUNDLED_UNITS, freshHost).hosts;
    const allowed = renderCluster(clusterFrom(tmp(), 'KUBE_VERSION=v1.37.2\nKUBELET_ALLOW_CGROUP_V1=true\n'), BUNDLED_UNITS, freshHost).hosts;
    expect(fileOf(plain, 'w1', kubelet)!.content).not.toContain('failCgroupV1');
    expect(fileOf(allowed, 'w1', kubelet)!.content).toContain('\nfailCgroupV1: false\n');
  });

  it('fills per-host values and derived cluster values into the units', () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), 'BIN_PATH=/usr/local/kube\n'), BUNDLED_UNITS, freshHost);
    const etcd = fileOf(hosts, 'e1', '/etc/systemd/system/etcd.service')!.content;
    expect(etcd).toContain('ExecStart=/usr/local/kube/etcd \\\n  --name=e1 \\');
    // The member list is not in the unit (a change of membership would restart every member): the join step writes it.
    expect(etcd).not.toContain('--initial-cluster=');
    expect(etcd).toContain('EnvironmentFile=-/var/lib/etcd/kubestrap-initial-cluster.env');
    expect(etcd).toContain('--listen-peer-urls=https://10.0.0.13:2380');
    const apiserver = fileOf(hosts, 'm1', '/etc/systemd/system/kube-apiserver.service')!.content;
    expect(apiserver).toContain('--etcd-servers=https://10.0.0.11:2379,https://10.0.0.13:2379');
    expect(apiserver).toContain('--service-cluster-ip-range=10.68.0.0/16');
  });

  it('renders Docker and containerd registry settings as valid JSON/TOML values', () => {
    const { hosts } = renderCluster(
      clusterFrom(tmp(), 'DOCKER_REGISTRY_MIRRORS=https://m1.example,https://m2.example\nDOCKER_INSECURE_REGISTRIES=10.0.0.5:5000,10.1.0.0/16\n'),
      BUNDLED_UNITS,
      freshHost,
    );
    const daemon = JSON.parse(fileOf(hosts, 'w1', '/etc/docker/daemon.json')!.content);
    expect(daemon).toMatchObject({
      'registry-mirrors': ['https://m1.example', 'https://m2.example'],
      'insecure-registries': ['10.0.0.5:5000', '10.1.0.0/16'],
      'exec-opts': ['native.cgroupdriver=systemd'],
      'live-restore': true,
      'log-opts': { 'max-size': '100m', 'max-file': '3' },
    });
    // containerd reads its registries from hosts.toml files (the runtime phase writes them), never inline.
    const containerd = fileOf(hosts, 'w1', '/etc/containerd/config.toml')!.content;
    expect(containerd).toContain('config_path = "/etc/containerd/certs.d"');
    expect(containerd).not.toMatch(/registry\.mirrors|m1\.example|10\.0\.0\.5/);
  });

  it('renders extra sysctls and ipvs modules only when asked', () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), 'EXTRA_SYSCTLS=vm.swappiness=0\nKUBE_PROXY_MODE=ipvs\n'), BUNDLED_UNITS, freshHost);
    expect(fileOf(hosts, 'w1', '/etc/sysctl.d/k8s.conf')!.content).toContain('\nvm.swappiness=0\n');
    expect(fileOf(hosts, 'w1', '/etc/modules-load.d/k8s.conf')!.content).toContain('\nip_vs\n');
  });

  it("points units at the PKI's files on the host and renders no kubeconfig (the pki phase makes them)", () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), ''), BUNDLED_UNITS, freshHost);
    expect(fileOf(hosts, 'w1', '/etc/systemd/system/kubelet.service')!.content).toContain('--kubeconfig=/etc/kubernetes/kubelet.conf');
    expect(fileOf(hosts, 'w1', '/etc/kubernetes/kubelet-config.yaml')!.content).toContain('tlsCertFile: /etc/kubernetes/pki/kubelet.crt');
    expect(fileOf(hosts, 'm1', '/etc/systemd/system/kube-apiserver.service')!.content).toContain('--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt');
    expect(fileOf(hosts, 'm1', '/etc/systemd/system/etcd.service')!.content).toContain('--peer-key-file=/etc/kubernetes/pki/etcd/peer.key');
    expect(hosts.flatMap((h) => h.files.map((f) => f.path)).filter((p) => /kubeconfig|\.conf$/.test(p) && p.startsWith('/etc/kubernetes/'))).toEqual([]);
  });

  it('audits the API server for real (a policy, Metadata for Secrets), encrypts Secrets at rest, and serves no profiling', () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), ''), BUNDLED_UNITS, freshHost);
    const apiserver = fileOf(hosts, 'm1', '/etc/systemd/system/kube-apiserver.service')!.content;
    expect(apiserver).toContain('--audit-policy-file=/etc/kubernetes/audit-policy.yaml');
    expect(apiserver).toContain('--encryption-provider-config=/etc/kubernetes/encryption-config.yaml');
    for (const unit of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      expect([unit, fileOf(hosts, 'm1', `/etc/systemd/system/${unit}.service`)!.content]).toEqual([unit, expect.stringContaining('--profiling=false')]);
    }
    const policy = parse(fileOf(hosts, 'm1', '/etc/kubernetes/audit-policy.yaml')!.content) as {
      apiVersion: string;
      kind: string;
      rules: Array<{ level: string; resources?: Array<{ group: string; resources: string[] }> }>;
    };
    expect([policy.apiVersion, policy.kind]).toEqual(['audit.k8s.io/v1', 'Policy']);
    // The first rule that names secrets decides their level: never the bodies (Request, RequestResponse).
    const forSecrets = policy.rules.find((r) => r.resources?.some((g) => g.group === '' && g.resources.includes('secrets')));
    expect(forSecrets?.level).toBe('Metadata');
    expect(policy.rules.at(-1)).toEqual({ level: 'Metadata' });
    expect(fileOf(hosts, 'm1', '/etc/kubernetes/audit-policy.yaml')!.restarts).toEqual(['kube-apiserver']);
    expect(fileOf(hosts, 'w1', '/etc/kubernetes/audit-policy.yaml')).toBeUndefined();
  });

  it('names the services each file restarts', () => {
    const { hosts } = renderCluster(clusterFrom(tmp(), ''), BUNDLED_UNITS, freshHost);
    expect(fileOf(hosts, 'w1', '/etc/kubernetes/kubelet-config.yaml')!.restarts).toEqual(['kubelet']);
    expect(fileOf(hosts, 'w1', '/etc/systemd/system/kubelet.service')!.restarts).toEqual([]);
    expect(fileOf(hosts, 'w1', '/etc/docker/daemon.json')!.restarts).toEqual(['docker']);
    expect(fileOf(hosts, 'w1', '/etc/sysctl.d/k8s.conf')!.restarts).toEqual([]);
  });
});

describe('renderCluster with a custom template tree', () => {
  const tmp = useTempDir();

  function render(files: Record<string, string>, config = '') {
    const dir = tmp();
    writeTree(join(dir, 'tpl'), files);
    return renderCluster(clusterFrom(dir, config), join(dir, 'tpl'));
  }

  it('reports every undefined variable with its file and line, and renders nothing', () => {
    const { hosts, problems } = render({
      'all/etc/a.conf': 'ok={{ BIN_PATH }}\nbad={{ NOT_SET }}\n{% if ALSO_NOT_SET %}x{% endif %}\n',
      'worker/etc/b.conf': '{#- kubestrap: mode=0640 -#}\n\nbad={{BIN_PAHT}}\n',
    });
    expect(hosts).toEqual([]);
    expect(problems.map((p) => p.where())).toEqual(['all/etc/a.conf:2 NOT_SET', 'all/etc/a.conf:3 ALSO_NOT_SET', 'worker/etc/b.conf:3 BIN_PAHT']);
    expect(problems[2]!.hint).toContain('did you mean BIN_PATH?');
  });

  it("renders a host's files again only when its values changed since the check before connecting", () => {
    const dir = tmp();
    writeTree(join(dir, 'tpl'), { 'all/etc/note': '{{ MY_NOTE }} on {{ NODE_NAME }}\n' });
    const spec = clusterFrom(dir, 'MY_NOTE=hello\n');
    const templates = prepareTemplates(spec, join(dir, 'tpl'));
    const [m1, w1] = spec.hosts;
    const checked = templates.renderHost(m1!, { MY_NOTE: 'fresh' });
    expect(templates.renderHost(m1!, { MY_NOTE: 'fresh' })).toBe(checked);
    templates.renderHost(w1!, { MY_NOTE: 'fresh' });
    expect(templates.renderHost(w1!, { MY_NOTE: 'read' }).files[0]!.content).toBe('read on w1\n');
  });

  it('passes unknown properties from config.properties and host overrides to templates', () => {
    const { hosts, problems } = render({ 'all/etc/note': '{{ MY_NOTE }} on {{ NODE_NAME }} ({{ host.ip }})\n' }, 'MY_NOTE=hello\n');
    expect(problems).toEqual([]);
    expect(fileOf(hosts, 'w1', '/etc/note')!.content).toBe('hello on w1 (10.0.0.12)\n');
  });

  it.each([
    ['v1.36.0', '--insecure-bind-address=0.0.0.0', 'kube-apiserver v1.36.0 rejects --insecure-bind-address (removed in Kubernetes 1.24)'],
    ['v1.31.0', '--logtostderr=true', 'kube-apiserver v1.31.0 rejects --logtostderr (removed in Kubernetes 1.26)'],
    ['v1.33.5', '--cloud-provider=external', 'kube-apiserver v1.33.5 rejects --cloud-provider (removed in Kubernetes 1.33)'],
    ['v1.31.0', '--admission-control=NamespaceLifecycle', '--admission-control is deprecated since Kubernetes 1.10'],
    ['v1.31.0', '--enable-admission-plugins=NodeRestriction,SecurityContextDeny', 'kube-apiserver v1.31.0 rejects --enable-admission-plugins=SecurityContextDeny (removed in Kubernetes 1.30)'],
  ])('refuses a unit that passes a flag %s rejects: %s', (version, flag, message) => {
    const { problems } = render(
      { 'master/etc/systemd/system/kube-apiserver.service': `[Service]\nExecStart={{ BIN_PATH }}/kube-apiserver \\\n  --secure-port=6443 \\\n  ${flag} \\\n  --v=2\n` },
      `KUBE_VERSION=${version}\n`,
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain(message);
    expect(problems[0]!.message).toContain('rendered for m1 at line 4');
  });

  it.each([
    ['--audit-log-path=/var/log/kubernetes/audit.log', '--audit-log-path'],
    ['--audit-webhook-config-file=/etc/kubernetes/webhook.yaml', '--audit-webhook-config-file'],
  ])('refuses an audit backend without a policy, which records nothing: %s', (flag, name) => {
    const unit = (extra: string) => ({ 'master/etc/systemd/system/kube-apiserver.service': `[Service]\nExecStart={{ BIN_PATH }}/kube-apiserver \\\n  --secure-port=6443 \\\n  ${flag}${extra}\n` });
    const { problems } = render(unit(''));
    expect(problems.map((p) => [p.where(), p.message, p.hint])).toEqual([
      [
        `master/etc/systemd/system/kube-apiserver.service ${name}`,
        `kube-apiserver's ${name} does nothing as rendered; rendered for m1 at line 4`,
        'add --audit-policy-file: without an audit policy the API server records no events',
      ],
    ]);
    expect(render(unit(' \\\n  --audit-policy-file=/etc/kubernetes/audit-policy.yaml')).problems).toEqual([]);
  });

  it('accepts --cloud-provider where the version still has it', () => {
    const { problems } = render({ 'master/etc/systemd/system/kube-apiserver.service': '[Service]\nExecStart=/bin/kube-apiserver --cloud-provider=external\n' }, 'KUBE_VERSION=v1.32.0\n');
    expect(problems).toEqual([]);
  });

  it.each([
    ['v1.34.7', '--pod-infra-container-image is deprecated since Kubernetes 1.27'],
    ['v1.35.0', 'kubelet v1.35.0 rejects --pod-infra-container-image (removed in Kubernetes 1.35)'],
  ])('refuses kubelet --pod-infra-container-image on %s', (version, message) => {
    const { problems } = render(
      { 'worker/etc/systemd/system/kubelet.service': '[Service]\nExecStart=/opt/kube/bin/kubelet --pod-infra-container-image=registry.k8s.io/pause:3.10\n' },
      `KUBE_VERSION=${version}\n`,
    );
    expect(problems.map((p) => p.message)).toEqual([expect.stringContaining(message)]);
  });

  it.each([
    ['v3.5.21', '--enable-v2=true', []],
    ['v3.6.16', '--enable-v2=true', ['etcd v3.6.16 rejects --enable-v2 (removed in etcd 3.6)']],
    ['v3.5.21', '--experimental-initial-corrupt-check=true', []],
    ['v3.6.16', '--experimental-initial-corrupt-check=true', ['--experimental-initial-corrupt-check is deprecated since etcd 3.6']],
    ['v3.7.2', '--experimental-initial-corrupt-check=true', ['etcd v3.7.2 rejects --experimental-initial-corrupt-check (removed in etcd 3.7)']],
  ])('checks etcd units against ETCD_VERSION %s: %s', (etcdVersion, flag, messages) => {
    const { problems } = render({ 'etcd/etc/systemd/system/etcd.service': `[Service]\nExecStart=/opt/kube/bin/etcd --name=x ${flag}\n` }, `ETCD_VERSION=${etcdVersion}\n`);
    // Both etcd members (m1, e1) render the unit: one problem each, same message.
    expect([...new Set(problems.map((p) => p.message.split(';')[0]))]).toEqual(messages.map((m) => expect.stringContaining(m)));
  });

  it('checks kubelet units against the kubelet table', () => {
    const { problems } = render({ 'worker/etc/systemd/system/kubelet.service': '[Service]\nExecStart=/opt/kube/bin/kubelet --network-plugin=cni --container-runtime=remote\n' });
    expect(problems.map((p) => p.where())).toEqual(['worker/etc/systemd/system/kubelet.service --network-plugin', 'worker/etc/systemd/system/kubelet.service --container-runtime']);
  });

  it('refuses templates outside a role folder and unknown role folders', () => {
    const { problems } = render({ README: 'x', 'nodes/etc/x': 'y', '_lib/m.njk': '{{ UNDEFINED }}' });
    expect(problems.map((p) => p.format().split('\n')[0])).toEqual(['README: is not inside a role folder', 'nodes/etc/x: "nodes" is not a role folder']);
  });

  it('refuses two templates that install one path differently on one host', () => {
    const { problems } = render({ 'master/etc/x.conf': 'a\n', 'etcd/etc/x.conf': 'b\n' });
    expect(problems.map((p) => p.message)).toEqual(['installs /etc/x.conf on m1, as etcd/etc/x.conf does, with other content']);
  });

  it('refuses an unknown header field', () => {
    const { problems } = render({ 'all/etc/x': '{# kubestrap: mode=0600 restart=x #}\n' });
    expect(problems[0]!.format()).toBe('all/etc/x:1: unknown header field "restart"\n  fix: use mode, owner, group, restarts, secret');
  });

  it('reports a template syntax error with its line (header lines counted)', () => {
    const { problems } = render({ 'all/etc/x': '{# kubestrap: mode=0600 #}\nline2\n{% if %}\n' });
    expect(problems[0]!.position().line).toBe(3);
  });
});
