import { describe, expect, it } from 'vitest';
import { checkPropertyValues } from '../../src/config/config-checks.js';
import { KNOWN_KEYS } from '../../src/config/keys.js';
import { parseProperties } from '../../src/config/properties.js';

function check(text: string, mode: 'compat' | 'cluster' = 'cluster') {
  const { properties } = parseProperties(text, 'config.properties');
  return checkPropertyValues(properties, mode);
}

const messages = (text: string, mode: 'compat' | 'cluster' = 'cluster') => check(text, mode).problems.map((p) => p.format());

describe('checkPropertyValues', () => {
  it('accepts the defaults of every known key', () => {
    const { problems, values } = check('');
    expect(problems).toEqual([]);
    for (const [key, spec] of Object.entries(KNOWN_KEYS)) expect(values[key]).toBe(spec.default);
  });

  it.each([
    ['MASTER_IP=10.0.0.256', 'MASTER_IP: "10.0.0.256" is not an IPv4 address', 'e.g. 192.168.1.102'],
    ['MASTER_IP=node1', 'MASTER_IP: "node1" is not an IPv4 address', 'four decimal numbers'],
    ['SERVICE_CIDR=10.68.0.0', 'SERVICE_CIDR: "10.68.0.0" is not an IPv4 network in CIDR form', 'address/prefix'],
    ['SERVICE_CIDR=10.68.0.0/33', 'SERVICE_CIDR: "10.68.0.0/33" is not an IPv4 network in CIDR form', '10.68.0.0/16'],
    ['SERVICE_CIDR=10.68.1.0/16', 'SERVICE_CIDR: "10.68.1.0/16" has host bits set', 'write the network address: 10.68.0.0/16'],
    ['SERVICE_CIDR=10.0.0.0/8', 'SERVICE_CIDR: prefix /8 is out of range', 'between /12 and /28'],
    ['NODE_PORT_RANGE=30000', 'NODE_PORT_RANGE: "30000" is not a port range', 'FIRST-LAST'],
    ['NODE_PORT_RANGE=32767-30000', 'NODE_PORT_RANGE: 32767-30000 is not an increasing range', '30000-32767'],
    ['NODE_PORT_RANGE=1-70000', 'NODE_PORT_RANGE: 1-70000 is not an increasing range', '65535'],
    ['KUBE_APISERVER_PORT=0', 'KUBE_APISERVER_PORT: "0" is not a TCP port', '1 to 65535'],
    ['KUBE_VERSION=v1.30.14', 'KUBE_VERSION: Kubernetes v1.30.14 is not supported: kubestrap supports v1.31.x to v1.37.x', 'set KUBE_VERSION to a version from v1.31.x to v1.37.x'],
    ['KUBE_VERSION=v1.38.0', 'KUBE_VERSION: Kubernetes v1.38.0 is not supported', 'v1.31.x to v1.37.x, e.g. v1.36.0'],
    ['KUBE_VERSION=latest', 'KUBE_VERSION: "latest" is not a version', 'v1.36'],
    ['ETCD_VERSION=v3.3.27', 'ETCD_VERSION: etcd v3.3.27 is not supported', 'v3.4.x to v3.7.x'],
    // Kubernetes 1.31+ relies on the /livez and /readyz endpoints etcd backported to 3.5.11 and 3.4.29.
    ['ETCD_VERSION=v3.4.23', 'ETCD_VERSION: etcd v3.4.23 is older than v3.4.29, the oldest 3.4 release Kubernetes 1.31 and later run on', 'set ETCD_VERSION to v3.4.29 or a later 3.4 release'],
    ['ETCD_VERSION=v3.5.10', 'ETCD_VERSION: etcd v3.5.10 is older than v3.5.11', 'or to v3.6.14 for a new one'],
    ['FLANNEL_CNI_PLUGIN_VERSION=v1.9.1-flannel', 'FLANNEL_CNI_PLUGIN_VERSION: "v1.9.1-flannel" is not a release tag of flannel\'s CNI plugin', 'e.g. v1.9.1-flannel1'],
    [
      'FLANNEL_CNI_PLUGIN_VERSION=v1.9.1',
      'FLANNEL_CNI_PLUGIN_VERSION: "v1.9.1" is not a release tag of flannel\'s CNI plugin (its releases after v1.2.0 are tagged with a build suffix, which kubestrap no longer adds)',
      'vMAJOR.MINOR.PATCH-flannelN, e.g. v1.9.1-flannel1',
    ],
    ['KUBELET_ALLOW_CGROUP_V1=yes', 'KUBELET_ALLOW_CGROUP_V1: "yes" is not one of the allowed values', 'true, false'],
    ['K8S_DOWNLOAD_URL=dl.k8s.io', 'K8S_DOWNLOAD_URL: "dl.k8s.io" is not an http(s) URL', 'https://'],
    ['K8S_IMAGE_REGISTRY=https://registry.k8s.io', 'K8S_IMAGE_REGISTRY: "https://registry.k8s.io" is not a registry', 'without a scheme'],
    ['SECURITY_MODE=none', 'SECURITY_MODE: "none" is not one of the allowed values', 'tls, insecure'],
    ['FLANNEL_BACKEND=udp', 'FLANNEL_BACKEND: "udp" is not one of the allowed values', 'vxlan'],
    // No strongSwan, no pre-shared key: refused rather than rendered into a network that never comes up.
    [
      'FLANNEL_BACKEND=ipsec',
      "FLANNEL_BACKEND: flannel's ipsec backend needs a pre-shared key of at least 96 characters and strongSwan's charon daemon on every node, which kubestrap does not set up",
      'use FLANNEL_BACKEND=wireguard',
    ],
    ['BIN_PATH=opt/kube', 'BIN_PATH: "opt/kube" is not an absolute path', '/opt/kube/bin'],
    ['ETCD_ENDPOINTS=10.0.0.1:2379', 'ETCD_ENDPOINTS: "10.0.0.1:2379" is not an etcd client URL', 'https://'],
    ['DOCKER_REGISTRY_MIRRORS=https://a.example,ftp://b', 'DOCKER_REGISTRY_MIRRORS: "ftp://b" is not an http(s) URL', 'https://'],
    ['DOCKER_INSECURE_REGISTRIES=10.0.0.5:5000,bad/path', 'DOCKER_INSECURE_REGISTRIES: "bad/path" is not a registry address', 'host[:port]'],
    ['EXTRA_SYSCTLS=vm.swappiness', 'EXTRA_SYSCTLS: "vm.swappiness" is not a sysctl assignment', 'key=value'],
    // The injections a review found (issue 11): each passed its check before.
    [
      'ETCD_ENDPOINTS=https://10.0.0.1:2379/?a --authorization-mode=AlwaysAllow',
      'ETCD_ENDPOINTS: "https://10.0.0.1:2379/?a --authorization-mode=AlwaysAllow" is not an etcd client URL',
      'scheme://address:port',
    ],
    ['ETCD_ENDPOINTS=https://10.0.0.1:2379#x', 'ETCD_ENDPOINTS: "https://10.0.0.1:2379#x" is not an etcd client URL', 'scheme://address:port'],
    ['DOCKER_REGISTRY_MIRRORS=https://m.example/?q --debug', 'DOCKER_REGISTRY_MIRRORS: "https://m.example/?q --debug" is not an http(s) URL', 'scheme://host[:port][/path]'],
    ['BIN_PATH=/opt/kube/bin;id', 'BIN_PATH: "/opt/kube/bin;id" is not an absolute path', 'letters, digits and . _ / + -'],
    ['BIN_PATH=/opt/kube/bin|id', 'BIN_PATH: "/opt/kube/bin|id" is not an absolute path', '/opt/kube/bin'],
    ['BIN_PATH=/opt/kube/bin\x01', 'BIN_PATH: the value holds a control character, \\x01', 'one line of printable text'],
    ['BIN_PATH=/opt/kube/bin\rExecStartPre=/bin/sh', 'BIN_PATH: the value holds a control character, \\x0d (carriage return)', 'LF line ends'],
    ['CONTAINER_RUNTIME_ENDPOINT=unix:///run/c.sock;id', 'CONTAINER_RUNTIME_ENDPOINT: "unix:///run/c.sock;id" is not a unix socket URL', 'unix:///'],
    ['FLANNEL_IFACE=-eth0', 'FLANNEL_IFACE: "-eth0" is not a network interface name', 'eth0'],
    ['DOCKER_INSECURE_REGISTRIES=-reg:5000', 'DOCKER_INSECURE_REGISTRIES: "-reg:5000" is not a registry address', 'host[:port]'],
    ['EXTRA_SYSCTLS=vm.swappiness=1;id', 'EXTRA_SYSCTLS: "vm.swappiness=1;id" is not a sysctl assignment', 'key=value'],
    ['APISERVER_EXTRA_SANS=10.0.0.5,https://k8s.example.com', 'APISERVER_EXTRA_SANS: "https://k8s.example.com" is neither an IPv4 address nor a DNS name', 'k8s.example.com'],
    ['CERT_VALIDITY_DAYS=0', 'CERT_VALIDITY_DAYS: "0" is not a whole number from 2 to 3650', 'from 2 to 3650'],
    ['CA_VALIDITY_DAYS=10y', 'CA_VALIDITY_DAYS: "10y" is not a whole number from 30 to 36500', 'from 30 to 36500'],
  ])('rejects %s naming file, line, key, bad value and what is valid', (line, message, hint) => {
    const [problem] = check(`# header\n${line}\n`).problems;
    expect(problem?.format()).toContain(`config.properties:2 ${message}`);
    expect(problem?.hint).toContain(hint);
  });

  it('looks for control characters in the decoded text when compat mode reads bytes (a UTF-8 letter is no C1 control)', () => {
    const bytes = (text: string) => Buffer.from(text).toString('latin1');
    expect(messages(bytes('UNICODE=节点-ü…\n'), 'compat')).toEqual([]);
    expect(messages(bytes('X=a\u0085b\n'), 'compat')[0]).toContain('X: the value holds a control character, \\x85');
  });

  it('accepts the oldest etcd releases Kubernetes 1.31+ runs on, and flannel CNI plugin tags with or without a build suffix', () => {
    expect(messages('ETCD_VERSION=v3.4.29\nFLANNEL_CNI_PLUGIN_VERSION=v1.5.1-flannel2\n')).toEqual([]);
    expect(messages('ETCD_VERSION=v3.5.11\nFLANNEL_CNI_PLUGIN_VERSION=v1.1.2\n')).toEqual([]);
  });

  it('accepts addresses, names and wildcard names as extra API server SANs', () => {
    expect(messages('APISERVER_EXTRA_SANS=203.0.113.10,k8s.example.com,*.apps.example.com\n')).toEqual([]);
  });

  it('rejects a renewal window that would re-issue every certificate on every run', () => {
    expect(messages('CERT_VALIDITY_DAYS=30\n')).toEqual([
      'config.properties:1 CERT_VALIDITY_DAYS: certificates valid for 30 days would be re-issued on every run when renewed 30 days before they expire\n  fix: make CERT_RENEW_BEFORE_DAYS smaller than CERT_VALIDITY_DAYS, e.g. 7',
    ]);
    expect(messages('CERT_VALIDITY_DAYS=90\nCERT_RENEW_BEFORE_DAYS=90\n')[0]).toMatch(/^config.properties:2 CERT_RENEW_BEFORE_DAYS: /);
  });

  it('rejects overlapping service and pod networks', () => {
    expect(messages('SERVICE_CIDR=10.68.0.0/16\nCLUSTER_CIDR=10.0.0.0/8\n')).toEqual([
      'config.properties:2 CLUSTER_CIDR: SERVICE_CIDR 10.68.0.0/16 and CLUSTER_CIDR 10.0.0.0/8 overlap\n  fix: Service IPs and pod IPs must come from separate ranges, e.g. SERVICE_CIDR=10.68.0.0/16 and CLUSTER_CIDR=172.20.0.0/16',
    ]);
  });

  it('points at the line that is set when the other network is a default', () => {
    const [problem] = check('SERVICE_CIDR=172.20.0.0/20\n').problems;
    expect(problem?.where()).toBe('config.properties:1 SERVICE_CIDR');
  });

  it.each([
    ['10.69.0.2', 'is outside SERVICE_CIDR 10.68.0.0/16', 'e.g. 10.68.0.2'],
    ['10.68.0.1', 'is the first address of 10.68.0.0/16, which the "kubernetes" Service takes', 'e.g. 10.68.0.2'],
    ['10.68.0.0', 'is the network or broadcast address', 'e.g. 10.68.0.2'],
    ['10.68.255.255', 'is the network or broadcast address', 'e.g. 10.68.0.2'],
  ])('rejects CLUSTER_DNS_SVC_IP=%s', (ip, message, hint) => {
    const [problem] = check(`SERVICE_CIDR=10.68.0.0/16\nCLUSTER_DNS_SVC_IP=${ip}\n`).problems;
    expect(problem?.where()).toBe('config.properties:2 CLUSTER_DNS_SVC_IP');
    expect(problem?.message).toContain(message);
    expect(problem?.hint).toContain(hint);
  });

  it('passes unknown keys through, warning only when they look like a typo of a known key', () => {
    const { values, warnings, problems } = check('FLANNEL_BACKNED=vxlan\nMY_OWN_SETTING=42\nbin_path=/x\n');
    expect(problems).toEqual([]);
    expect(values.MY_OWN_SETTING).toBe('42');
    expect(values.FLANNEL_BACKNED).toBe('vxlan');
    expect(warnings.map((w) => [w.where, w.hint])).toEqual([
      ['config.properties:1 FLANNEL_BACKNED', 'did you mean FLANNEL_BACKEND?'],
      ['config.properties:3 bin_path', 'did you mean BIN_PATH?'],
    ]);
  });

  it('refuses keys that nunjucks templates cannot name, saying what to call them', () => {
    expect(messages('etcd.name=node1\n')).toEqual(['config.properties:1 etcd.name: cannot be used in kubestrap\'s templates (nunjucks reads "." and "-" as operators)\n  fix: rename it to ETCD_NAME']);
    expect(messages('etcd.name=node1\n', 'compat')).toEqual([]);
  });

  describe('compat mode (gen-config.sh drop-in)', () => {
    it('checks only what the file sets, and only addresses, networks and ports', () => {
      const { problems, values } = check('NODE_IP=192.168.1.102\nETCD_ENDPOINTS=http://192.168.1.102:2379\nKUBE_VERSION=v1.9.0\nBIN_PATH=~/bin\n', 'compat');
      expect(problems).toEqual([]);
      expect(values).toEqual({
        NODE_IP: '192.168.1.102',
        ETCD_ENDPOINTS: 'http://192.168.1.102:2379',
        KUBE_VERSION: 'v1.9.0',
        BIN_PATH: '~/bin',
      });
    });

    it('still rejects a bad IP, CIDR, port range and the network cross-checks', () => {
      expect(messages('NODE_IP=1.2.3\nSERVICE_CIDR=10.68.0.0/16\nCLUSTER_CIDR=10.68.0.0/24\nCLUSTER_DNS_SVC_IP=10.1.0.2\nNODE_PORT_RANGE=9-1\n', 'compat').map((m) => m.split('\n')[0])).toEqual([
        'config.properties:1 NODE_IP: "1.2.3" is not an IPv4 address',
        'config.properties:5 NODE_PORT_RANGE: 9-1 is not an increasing range of TCP ports',
        'config.properties:3 CLUSTER_CIDR: SERVICE_CIDR 10.68.0.0/16 and CLUSTER_CIDR 10.68.0.0/24 overlap',
        'config.properties:4 CLUSTER_DNS_SVC_IP: 10.1.0.2 is outside SERVICE_CIDR 10.68.0.0/16',
      ]);
    });
  });
});
