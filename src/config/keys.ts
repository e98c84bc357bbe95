import { DEFAULT_KUBE_VERSION, isSupportedKubeVersion, parseVersion, supportedKubeRange } from './kube-version.js';
import {
  checkAbsolutePath,
  checkCidr,
  checkDnsDomain,
  checkDockerSize,
  checkEach,
  checkHttpUrl,
  checkIPv4,
  checkIfaceName,
  checkInteger,
  checkOneOf,
  checkPort,
  checkPortRange,
  checkRegistry,
  checkSysctlAssignment,
  checkVersion,
  isSafeAbsolutePath,
  isUrl,
  broadcastAddress,
  networkAddress,
  parseCidr,
  type ValueCheck,
} from './validators.js';

/**
 * Every key kubestrap understands in config.properties. Keys not listed here are passed to templates
 * unchanged (users add their own). `scope: 'cluster'` keys must be equal on every host, so an
 * inventory may not override them per host.
 */
export interface KeySpec {
  summary: string;
  default: string;
  scope: 'cluster' | 'host';
  check: ValueCheck;
  /** An empty value is valid (and means "none" or "derive it"). */
  optional?: boolean;
}

export const SECURITY_MODES = ['tls', 'insecure'] as const;
export const FLANNEL_BACKENDS = ['vxlan', 'host-gw', 'wireguard', 'ipip', 'ipsec'] as const;
export const KUBE_PROXY_MODES = ['iptables', 'ipvs', 'nftables'] as const;
/** Where containerd, runc and Docker come from: the OS's packages, or the offline bundle's static binaries. */
export const CONTAINER_RUNTIME_SOURCES = ['package', 'bundle'] as const;
export type ContainerRuntimeSource = (typeof CONTAINER_RUNTIME_SOURCES)[number];

/** yum's own variables, filled in per host; nothing else may follow a `$`. */
const YUM_VARIABLES = /\$(releasever|basearch)\b/g;

const checkRepoUrl: ValueCheck = (value) => {
  const plain = value.replace(YUM_VARIABLES, 'x');
  if (isUrl(plain, { schemes: ['http', 'https'], port: 'optional', path: true }) || /^file:\/\/\/[A-Za-z0-9._~/-]*$/.test(plain)) return undefined;
  return {
    message: `"${value}" is not a package repository URL`,
    hint: 'write http(s)://host[:port]/path or file:///path; $releasever and $basearch are filled in per host, e.g. https://download.docker.com/linux/centos/$releasever/$basearch/stable',
  };
};

/** Docker's bridge address: a host address with its prefix, as daemon.json's `bip` takes it. */
const checkBip: ValueCheck = (value) => {
  const cidr = parseCidr(value);
  if (cidr && cidr.prefix >= 8 && cidr.prefix <= 30 && value.split('/')[0] !== networkAddress(cidr) && value.split('/')[0] !== broadcastAddress(cidr)) return undefined;
  return { message: `"${value}" is not a bridge address`, hint: 'write the bridge\'s own address with its prefix (/8 to /30), not the network address, e.g. 172.17.0.1/16' };
};

const checkKubeVersion: ValueCheck = (value) => {
  const version = parseVersion(value);
  if (!version) return { message: `"${value}" is not a version`, hint: `write e.g. ${DEFAULT_KUBE_VERSION}` };
  if (!isSupportedKubeVersion(version)) {
    return {
      message: `Kubernetes ${version.tag} is not supported: kubestrap has no flag set for it`,
      hint: `use a version from ${supportedKubeRange()}, e.g. ${DEFAULT_KUBE_VERSION}`,
    };
  }
  return undefined;
};

const checkEtcdVersion: ValueCheck = (value) => {
  const problem = checkVersion('v3.5.17')(value);
  if (problem) return problem;
  return /^v?3\.[456]\./.test(value)
    ? undefined
    : { message: `etcd ${value} is not supported`, hint: 'use etcd 3.4, 3.5 or 3.6, e.g. v3.5.17' };
};

const checkEtcdEndpoint: ValueCheck = (value) =>
  isUrl(value, { schemes: ['http', 'https'], port: 'required', path: false })
    ? undefined
    : {
        message: `"${value}" is not an etcd client URL`,
        hint: 'write scheme://address:port items separated by commas, e.g. https://192.168.1.102:2379 (or leave it empty to use the inventory\'s etcd hosts)',
      };

export const KNOWN_KEYS = {
  BIN_PATH: {
    summary: 'Directory on every host where the Kubernetes, etcd and flannel binaries are installed.',
    default: '/opt/kube/bin',
    scope: 'host',
    check: checkAbsolutePath,
  },
  MASTER_IP: {
    summary: 'Address the workers and kubeconfigs use for the API server. Empty: the first master in the inventory.',
    default: '',
    scope: 'cluster',
    check: checkIPv4,
    optional: true,
  },
  KUBE_APISERVER_PORT: {
    summary: 'Secure port of the API server.',
    default: '6443',
    scope: 'cluster',
    check: checkPort,
  },
  ETCD_ENDPOINTS: {
    summary: 'etcd client URLs, comma-separated. Empty: every etcd host of the inventory on port 2379.',
    default: '',
    scope: 'cluster',
    check: checkEach(checkEtcdEndpoint),
    optional: true,
  },
  SERVICE_CIDR: {
    summary: 'Virtual IP range of Services. Must not overlap CLUSTER_CIDR or the hosts\' network.',
    default: '10.68.0.0/16',
    scope: 'cluster',
    check: checkCidr(12, 28, '10.68.0.0/16'),
  },
  CLUSTER_CIDR: {
    summary: 'Pod network that flannel splits into one subnet per node. Must not overlap SERVICE_CIDR.',
    default: '172.20.0.0/16',
    scope: 'cluster',
    check: checkCidr(8, 24, '172.20.0.0/16'),
  },
  NODE_CIDR_MASK_SIZE: {
    summary: 'Prefix length of the pod subnet each node gets out of CLUSTER_CIDR.',
    default: '24',
    scope: 'cluster',
    check: checkInteger(16, 28),
  },
  CLUSTER_DNS_SVC_IP: {
    summary: 'Service IP of the cluster DNS; must lie inside SERVICE_CIDR (not its first address).',
    default: '10.68.0.2',
    scope: 'cluster',
    check: checkIPv4,
  },
  CLUSTER_DOMAIN: {
    summary: 'DNS domain of the cluster.',
    default: 'cluster.local',
    scope: 'cluster',
    check: checkDnsDomain,
  },
  NODE_PORT_RANGE: {
    summary: 'Port range for NodePort Services.',
    default: '30000-32767',
    scope: 'cluster',
    check: checkPortRange,
  },
  KUBE_VERSION: {
    summary: `Kubernetes version to install (${supportedKubeRange()}).`,
    default: DEFAULT_KUBE_VERSION,
    scope: 'cluster',
    check: checkKubeVersion,
  },
  ETCD_VERSION: {
    summary: 'etcd version to install (3.4, 3.5 or 3.6).',
    default: 'v3.5.17',
    scope: 'cluster',
    check: checkEtcdVersion,
  },
  FLANNEL_VERSION: {
    summary: 'flannel version to install.',
    default: 'v0.26.1',
    scope: 'cluster',
    check: checkVersion('v0.26.1'),
  },
  FLANNEL_BACKEND: {
    summary: `flannel backend: ${FLANNEL_BACKENDS.join(', ')}.`,
    default: 'vxlan',
    scope: 'cluster',
    check: checkOneOf(FLANNEL_BACKENDS),
  },
  FLANNEL_ETCD_PREFIX: {
    summary: 'etcd key prefix of flannel\'s network configuration (flannel reads PREFIX/config).',
    default: '/coreos.com/network',
    scope: 'cluster',
    check: (value) =>
      /^(\/[A-Za-z0-9._-]+)+$/.test(value)
        ? undefined
        : { message: `"${value}" is not an etcd key prefix`, hint: 'write an absolute key path without a trailing /, e.g. /coreos.com/network' },
  },
  FLANNEL_IFACE: {
    summary: 'Interface flannel uses between hosts. Empty: the one holding the node\'s address.',
    default: '',
    scope: 'host',
    check: checkIfaceName,
    optional: true,
  },
  KUBE_PROXY_MODE: {
    summary: `kube-proxy mode: ${KUBE_PROXY_MODES.join(', ')} (nftables needs Kubernetes 1.31 or later).`,
    default: 'iptables',
    scope: 'cluster',
    check: checkOneOf(KUBE_PROXY_MODES),
  },
  CONTAINER_RUNTIME_ENDPOINT: {
    summary: 'CRI socket the kubelet talks to (containerd, installed with Docker).',
    default: 'unix:///run/containerd/containerd.sock',
    scope: 'host',
    check: (value) =>
      value.startsWith('unix:///') && isSafeAbsolutePath(value.slice('unix://'.length))
        ? undefined
        : { message: `"${value}" is not a unix socket URL`, hint: 'write unix:///path/to.sock, e.g. unix:///run/containerd/containerd.sock' },
  },
  CONTAINER_RUNTIME_SOURCE: {
    summary: `Where containerd, runc and Docker come from: ${CONTAINER_RUNTIME_SOURCES.join(' (the OS\'s packages) or ')} (the offline bundle's static binaries).`,
    default: 'package',
    scope: 'host',
    check: checkOneOf(CONTAINER_RUNTIME_SOURCES),
  },
  DOCKER_YUM_REPO: {
    summary: 'Base URL of the docker-ce yum repository on EL hosts (docker-ce, docker-ce-cli, containerd.io); a mirror or an offline copy works the same way.',
    default: 'https://download.docker.com/linux/centos/$releasever/$basearch/stable',
    scope: 'host',
    check: checkRepoUrl,
  },
  DOCKER_YUM_GPGKEY: {
    summary: 'URL of the key that signs the docker-ce repository\'s packages: yum and dnf install nothing it has not signed.',
    default: 'https://download.docker.com/linux/centos/gpg',
    scope: 'host',
    check: checkRepoUrl,
  },
  DOCKER_BIP: {
    summary: 'Address and prefix of Docker\'s bridge (docker0); must overlap neither CLUSTER_CIDR, SERVICE_CIDR nor the hosts\' network.',
    default: '172.17.0.1/16',
    scope: 'host',
    check: checkBip,
  },
  DOCKER_REGISTRY_MIRRORS: {
    summary: 'Registry mirrors for docker.io, comma-separated URLs, used by Docker and containerd. Empty: none.',
    default: '',
    scope: 'host',
    check: checkEach(checkHttpUrl),
    optional: true,
  },
  DOCKER_INSECURE_REGISTRIES: {
    summary: 'Registries Docker may reach without TLS, comma-separated host:port or CIDR. Empty: none.',
    default: '',
    scope: 'host',
    check: checkEach(checkRegistry),
    optional: true,
  },
  DOCKER_DATA_ROOT: {
    summary: 'Where Docker keeps images and containers.',
    default: '/var/lib/docker',
    scope: 'host',
    check: checkAbsolutePath,
  },
  DOCKER_LOG_MAX_SIZE: {
    summary: 'Size at which a container\'s log file is rotated.',
    default: '100m',
    scope: 'host',
    check: checkDockerSize,
  },
  DOCKER_LOG_MAX_FILE: {
    summary: 'Rotated log files kept per container.',
    default: '3',
    scope: 'host',
    check: checkInteger(1, 100),
  },
  EXTRA_SYSCTLS: {
    summary: 'More kernel settings for /etc/sysctl.d/k8s.conf, comma-separated key=value. Empty: none.',
    default: '',
    scope: 'host',
    check: checkEach(checkSysctlAssignment),
    optional: true,
  },
  SECURITY_MODE: {
    summary: 'tls (default): TLS with the cluster\'s own CA everywhere. insecure: the tutorials\' plain HTTP, only where the version allows it.',
    default: 'tls',
    scope: 'cluster',
    check: checkOneOf(SECURITY_MODES),
  },
} as const satisfies Record<string, KeySpec>;

export type KnownKey = keyof typeof KNOWN_KEYS;

/** Values that come from the inventory, one per host; config.properties may not set them. */
export const HOST_DERIVED_KEYS = ['NODE_IP', 'NODE_NAME'] as const;

export function isKnownKey(key: string): key is KnownKey {
  return Object.hasOwn(KNOWN_KEYS, key);
}
