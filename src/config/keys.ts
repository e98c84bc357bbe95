import type { RuntimeSourceSetting } from '../runtime/source.js';
import {
  DEFAULT_HEALTH_CHECK_IMAGE,
  DEFAULT_IMAGE_REGISTRY,
  DEFAULT_VERSIONS,
  DOWNLOAD_BASES,
  etcdBelowMinimum,
  isSupportedEtcdVersion,
  isSupportedKubeVersion,
  parseImageReference,
  parseProjectVersion,
  parseVersion,
  supportedEtcdRange,
  supportedKubeRange,
} from '../upstream/index.js';
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
  isDnsSubdomain,
  isIPv4,
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
export const FLANNEL_BACKENDS = ['vxlan', 'host-gw', 'wireguard', 'ipip'] as const;

/**
 * flannel's ipsec backend needs a pre-shared key of at least 96 characters in its network
 * configuration and strongSwan's charon on every node, which flanneld starts itself
 * (flannel-io/flannel Documentation/backends.md, pkg/backend/ipsec/handle_charon.go). kubestrap
 * sets up neither, so it is refused instead of rendered into a network that never comes up.
 */
const checkFlannelBackend: ValueCheck = (value) =>
  value === 'ipsec'
    ? {
        message:
          "flannel's ipsec backend needs a pre-shared key of at least 96 characters and strongSwan's charon daemon on every node, which kubestrap does not set up: flanneld would fail to start its tunnels",
        hint: 'use FLANNEL_BACKEND=wireguard to encrypt the traffic between nodes (in-kernel; flanneld makes the keys per node), or vxlan',
      }
    : checkOneOf(FLANNEL_BACKENDS)(value);
export const FLANNEL_MODES = ['etcd', 'kube'] as const;
export const BOOLEANS = ['true', 'false'] as const;
export const KUBE_PROXY_MODES = ['iptables', 'ipvs', 'nftables'] as const;
export const UPLOAD_COMPRESSIONS = ['auto', 'zstd', 'gzip', 'none'] as const;
/**
 * Where containerd, runc and Docker come from (src/runtime/source.ts): auto, the first that gives a
 * containerd the cluster's Kubernetes supports of the distribution's packages, Docker's repositories
 * and the release binaries; package, the first of the two package sources; docker or static, that
 * one; bundle, the older name of static.
 */
export const CONTAINER_RUNTIME_SOURCES = ['auto', 'package', 'docker', 'static', 'bundle'] as const satisfies readonly RuntimeSourceSetting[];
export type ContainerRuntimeSource = (typeof CONTAINER_RUNTIME_SOURCES)[number];

/**
 * A package repository's URL, with the variables filled in per host and nothing else after a `$`:
 * yum's own ($releasever, $basearch), or for apt kubestrap's $distro (os-release's ID: debian, ubuntu).
 */
function repoUrlCheck(variables: readonly string[], example: string): ValueCheck {
  const pattern = variables.length ? new RegExp(`\\$(${variables.join('|')})\\b`, 'g') : undefined;
  return (value) => {
    const plain = pattern ? value.replace(pattern, 'x') : value;
    if (isUrl(plain, { schemes: ['http', 'https'], port: 'optional', path: true }) || /^file:\/\/\/[A-Za-z0-9._~/-]*$/.test(plain)) return undefined;
    const filled = variables.length ? `; ${variables.map((v) => `$${v}`).join(' and ')} ${variables.length > 1 ? 'are' : 'is'} filled in per host` : '';
    return { message: `"${value}" is not a package repository URL`, hint: `write http(s)://host[:port]/path or file:///path${filled}, e.g. ${example}` };
  };
}

const checkYumRepoUrl = repoUrlCheck(['releasever', 'basearch'], 'https://download.docker.com/linux/centos/$releasever/$basearch/stable');
const checkAptRepoUrl = repoUrlCheck(['distro'], 'https://download.docker.com/linux/$distro');
const checkMirrorUrl = repoUrlCheck([], 'https://vault.centos.org/7.9.2009');

/** Docker's bridge address: a host address with its prefix, as daemon.json's `bip` takes it. */
const checkBip: ValueCheck = (value) => {
  const cidr = parseCidr(value);
  if (cidr && cidr.prefix >= 8 && cidr.prefix <= 30 && value.split('/')[0] !== networkAddress(cidr) && value.split('/')[0] !== broadcastAddress(cidr)) return undefined;
  return { message: `"${value}" is not a bridge address`, hint: "write the bridge's own address with its prefix (/8 to /30), not the network address, e.g. 172.17.0.1/16" };
};

const checkKubeVersion: ValueCheck = (value) => {
  const version = parseVersion(value);
  if (!version) return { message: `"${value}" is not a version`, hint: `write e.g. ${DEFAULT_VERSIONS.kubernetes}` };
  if (!isSupportedKubeVersion(version)) {
    return {
      message: `Kubernetes ${version.tag} is not supported: kubestrap supports ${supportedKubeRange()} (upstream maintains only the newest minors)`,
      hint: `set KUBE_VERSION to a version from ${supportedKubeRange()}, e.g. ${DEFAULT_VERSIONS.kubernetes}`,
    };
  }
  return undefined;
};

const checkEtcdVersion: ValueCheck = (value) => {
  const problem = checkVersion(DEFAULT_VERSIONS.etcd)(value);
  if (problem) return problem;
  const version = parseVersion(value)!;
  if (!isSupportedEtcdVersion(version)) {
    return { message: `etcd ${value} is not supported`, hint: `set ETCD_VERSION to a version from ${supportedEtcdRange()}, e.g. ${DEFAULT_VERSIONS.etcd}` };
  }
  // Every supported Kubernetes version is 1.31 or later, so the value alone tells.
  const minimum = etcdBelowMinimum(version);
  if (!minimum) return undefined;
  return {
    message: `etcd ${version.tag} is older than ${minimum.tag}, the oldest 3.${version.minor} release Kubernetes 1.31 and later run on (the API server relies on the /livez and /readyz endpoints etcd added in v3.5.11 and v3.4.29)`,
    hint: `set ETCD_VERSION to ${minimum.tag} or a later 3.${version.minor} release (upgrade the members first on an existing cluster), or to ${DEFAULT_VERSIONS.etcd} for a new one`,
  };
};

/** host[:port] with an optional path, as image references start: registry.k8s.io, mirror.example.com:5000/k8s */
const checkImageRegistry: ValueCheck = (value) =>
  /^[A-Za-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._-]+)*$/.test(value)
    ? undefined
    : { message: `"${value}" is not a registry`, hint: `write host[:port][/path] without a scheme, e.g. ${DEFAULT_IMAGE_REGISTRY}` };

/** registry[:port]/repository:tag, pinned by tag as the bundle and the nodes' imports need it. */
const checkImageReference: ValueCheck = (value) =>
  parseImageReference(value) ? undefined : { message: `"${value}" is not an image reference with a registry and a tag`, hint: `write registry/repository:tag, e.g. ${DEFAULT_HEALTH_CHECK_IMAGE}` };

const downloadBase = (key: keyof typeof DOWNLOAD_BASES, what: string): KeySpec => ({
  summary: `Base URL of ${what} downloads; point it at a mirror with the same layout. HTTPS_PROXY is honoured.`,
  default: DOWNLOAD_BASES[key],
  scope: 'cluster',
  check: checkHttpUrl,
});

/**
 * Folders that `etcd restore` moves aside (etcd's data) or `reset` deletes with all they hold: no
 * place for backups. Their paths are components/paths.ts's, which config does not import; a test
 * keeps this list equal to what reset removes.
 */
export const WIPED_HOST_DIRS = ['/var/lib/etcd', '/var/lib/kubelet', '/var/lib/kube-proxy', '/run/flannel', '/var/lib/cni', '/var/log/kubernetes', '/var/lib/kubestrap'] as const;

/** A backup folder: absolute, not the root, neither inside nor holding a folder that a restore or reset wipes. */
const checkBackupDir: ValueCheck = (value) => {
  const problem = checkAbsolutePath(value);
  if (problem) return problem;
  const dir = value.replace(/\/+$/, '');
  const wiped = WIPED_HOST_DIRS.find((w) => dir === '' || dir === w || dir.startsWith(`${w}/`) || w.startsWith(`${dir}/`));
  return wiped ? { message: `"${value}" is or holds ${wiped}, which etcd restore moves aside or reset deletes`, hint: 'choose a folder of its own, e.g. /var/backups/kubestrap/etcd' } : undefined;
};

/**
 * A systemd calendar expression, checked for what it may hold (it goes into a unit file as is):
 * whether systemd reads it is the host's to say (`systemd-analyze calendar`), and the timer's
 * install fails with systemd's own message if it does not.
 */
const checkOnCalendar: ValueCheck = (value) =>
  /^[A-Za-z0-9*:,./~ -]+$/.test(value) && value.trim() === value
    ? undefined
    : {
        message: `"${value}" is not a systemd calendar expression`,
        hint: 'write an OnCalendar value, e.g. daily, hourly or *-*-* 02:00:00 (check it with systemd-analyze calendar), or leave it empty for no scheduled backups',
      };

const checkEtcdEndpoint: ValueCheck = (value) =>
  isUrl(value, { schemes: ['http', 'https'], port: 'required', path: false })
    ? undefined
    : {
        message: `"${value}" is not an etcd client URL`,
        hint: "write scheme://address:port items separated by commas, e.g. https://192.168.1.102:2379 (or leave it empty to use the inventory's etcd hosts)",
      };

/** An entry of a certificate's subjectAltName: an IPv4 address or a DNS name (a leading `*.` allowed). */
const checkSubjectAltName: ValueCheck = (value) =>
  isIPv4(value) || isDnsSubdomain(value.replace(/^\*\./, ''))
    ? undefined
    : { message: `"${value}" is neither an IPv4 address nor a DNS name`, hint: 'write addresses or lower-case DNS names separated by commas, e.g. 192.168.1.100,k8s.example.com' };

export const KNOWN_KEYS = {
  BIN_PATH: {
    summary: 'Directory on every host where the Kubernetes, etcd and flannel binaries are installed.',
    default: '/opt/kube/bin',
    scope: 'host',
    check: checkAbsolutePath,
  },
  MASTER_IP: {
    summary:
      'Address of the API server for the admin kubeconfig and, when set, for every node that runs no API server (an external load balancer in front of the masters). ' +
      'Empty: the first master for the admin; with two or more masters every other node then gets its own load balancer, haproxy on 127.0.0.1:KUBE_APISERVER_PORT in front of every master (LB mode, the derived value API_LB=true).',
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
    summary: "Virtual IP range of Services. Must not overlap CLUSTER_CIDR or the hosts' network.",
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
    summary: `Kubernetes version to install (${supportedKubeRange()}). On an existing cluster a new value is an upgrade: one minor at a time, never back across a minor (plan and apply refuse it before any change, naming the version to stop at).`,
    default: DEFAULT_VERSIONS.kubernetes,
    scope: 'cluster',
    check: checkKubeVersion,
  },
  ETCD_VERSION: {
    summary: `etcd version to install (${supportedEtcdRange()}: 3.4.29+ or 3.5.11+, as Kubernetes 1.31 and later need; 3.4 only for existing clusters). On an existing cluster a new value is an upgrade: one minor at a time (3.4, 3.5, 3.6, 3.7; 3.6 only from 3.5.26 on), never back across a minor.`,
    default: DEFAULT_VERSIONS.etcd,
    scope: 'cluster',
    check: checkEtcdVersion,
  },
  ETCD_BACKUP_SCHEDULE: {
    summary: 'When the first etcd member takes a local snapshot (a systemd OnCalendar value, e.g. daily). Empty: no scheduled backups.',
    default: '',
    scope: 'cluster',
    check: checkOnCalendar,
    optional: true,
  },
  ETCD_BACKUP_KEEP: {
    summary: 'How many scheduled snapshots the member keeps; older ones are removed after each new one.',
    default: '7',
    scope: 'cluster',
    check: checkInteger(1, 1000),
  },
  ETCD_BACKUP_DIR: {
    summary: 'Folder on the first etcd member where scheduled snapshots go (made 0700).',
    default: '/var/backups/kubestrap/etcd',
    scope: 'cluster',
    check: checkBackupDir,
  },
  FLANNEL_VERSION: {
    summary: 'flannel version to install.',
    default: DEFAULT_VERSIONS.flannel,
    scope: 'cluster',
    check: checkVersion(DEFAULT_VERSIONS.flannel),
  },
  FLANNEL_CNI_PLUGIN_VERSION: {
    summary: "Release tag of flannel's CNI plugin (flannel-io/cni-plugin), as upstream writes it with its build suffix; installed as /opt/cni/bin/flannel.",
    default: DEFAULT_VERSIONS['flannel-cni-plugin'],
    scope: 'cluster',
    check: (value) =>
      parseProjectVersion('flannel-cni-plugin', value)
        ? undefined
        : {
            // A bare version was kubestrap's own default before it took the tag as written.
            message: `"${value}" is not a release tag of flannel's CNI plugin${/^v?\d+\.\d+\.\d+$/.test(value) ? ' (its releases after v1.2.0 are tagged with a build suffix, which kubestrap no longer adds)' : ''}`,
            hint: `write the tag as flannel-io/cni-plugin's releases name it, vMAJOR.MINOR.PATCH-flannelN, e.g. ${DEFAULT_VERSIONS['flannel-cni-plugin']}`,
          },
  },
  CNI_PLUGINS_VERSION: {
    summary: 'Version of the CNI reference plugins (bridge, host-local, loopback, portmap).',
    default: DEFAULT_VERSIONS['cni-plugins'],
    scope: 'cluster',
    check: checkVersion(DEFAULT_VERSIONS['cni-plugins']),
  },
  CONTAINERD_VERSION: {
    summary: 'containerd version for installs from static binaries (offline bundles).',
    default: DEFAULT_VERSIONS.containerd,
    scope: 'cluster',
    check: checkVersion(DEFAULT_VERSIONS.containerd),
  },
  RUNC_VERSION: {
    summary: 'runc version for installs from static binaries (offline bundles).',
    default: DEFAULT_VERSIONS.runc,
    scope: 'cluster',
    check: checkVersion(DEFAULT_VERSIONS.runc),
  },
  DOCKER_VERSION: {
    summary: 'Docker version for installs from static binaries (offline bundles).',
    default: DEFAULT_VERSIONS.docker,
    scope: 'cluster',
    check: checkVersion(DEFAULT_VERSIONS.docker),
  },
  K8S_DOWNLOAD_URL: downloadBase('K8S_DOWNLOAD_URL', 'Kubernetes (dl.k8s.io)'),
  GITHUB_DOWNLOAD_URL: downloadBase('GITHUB_DOWNLOAD_URL', 'GitHub release (etcd, flannel, CNI plugins, containerd, runc)'),
  DOCKER_DOWNLOAD_URL: downloadBase('DOCKER_DOWNLOAD_URL', 'Docker static binary'),
  K8S_IMAGE_REGISTRY: {
    summary: 'Registry of the pause and CoreDNS images (the containerd sandbox image comes from here).',
    default: DEFAULT_IMAGE_REGISTRY,
    scope: 'cluster',
    check: checkImageRegistry,
  },
  HEALTH_CHECK_IMAGE: {
    summary: 'Image of the pod check (health --deep, and the verify step of a run that brings up nodes): a busybox with httpd, wget and nslookup; an offline bundle carries it.',
    default: DEFAULT_HEALTH_CHECK_IMAGE,
    scope: 'cluster',
    check: checkImageReference,
  },
  VERIFY_PODS: {
    summary: 'true: a run that brings up nodes (init, a new node) ends with the pod check: a pod on every node, DNS, pod-to-pod and Service traffic from each.',
    default: 'true',
    scope: 'cluster',
    check: checkOneOf(['true', 'false']),
  },
  KUBELET_ALLOW_CGROUP_V1: {
    summary: 'true: let Kubernetes 1.35+ kubelets run on cgroup v1 hosts (failCgroupV1: false); upstream deprecated cgroup v1.',
    default: 'false',
    scope: 'cluster',
    check: checkOneOf(['true', 'false']),
  },
  CONTAINERD_ALLOW_UNSUPPORTED: {
    summary:
      "true: a containerd outside upstream's table for KUBE_VERSION's minor (containerd's RELEASES.md) is taken with a warning naming the table's row, instead of refused, where no source offers one inside it: a distribution's build with backported fixes (as kubeadm's --ignore-preflight-errors).",
    default: 'false',
    scope: 'cluster',
    check: checkOneOf(['true', 'false']),
  },
  UPLOAD_COMPRESSION: {
    summary: 'How binaries travel to the host: auto (zstd if the host has it, else gzip), zstd, gzip or none (fast local networks).',
    default: 'auto',
    scope: 'host',
    check: checkOneOf(UPLOAD_COMPRESSIONS),
  },
  FLANNEL_BACKEND: {
    summary: `flannel backend: ${FLANNEL_BACKENDS.join(', ')} (ipsec is refused: kubestrap sets up no strongSwan).`,
    default: 'vxlan',
    scope: 'cluster',
    check: checkFlannelBackend,
  },
  FLANNEL_MODE: {
    summary:
      'Where flannel keeps its network configuration and leases: etcd (as the seeds set it up) or kube (node podCIDRs through the API server, for clusters that keep etcd private to the control plane; masters that are not workers then run no flanneld).',
    default: 'etcd',
    scope: 'cluster',
    check: checkOneOf(FLANNEL_MODES),
  },
  FLANNEL_ETCD_PREFIX: {
    summary: "etcd key prefix of flannel's network configuration (flannel reads PREFIX/config).",
    default: '/coreos.com/network',
    scope: 'cluster',
    check: (value) =>
      /^(\/[A-Za-z0-9._-]+)+$/.test(value) ? undefined : { message: `"${value}" is not an etcd key prefix`, hint: 'write an absolute key path without a trailing /, e.g. /coreos.com/network' },
  },
  FLANNEL_IFACE: {
    summary: "Interface flannel uses between hosts. Empty: the one holding the node's address.",
    default: '',
    scope: 'host',
    check: checkIfaceName,
    optional: true,
  },
  MASTER_SCHEDULABLE: {
    summary: 'Whether masters that also have the worker role take ordinary pods. false: they are tainted node-role.kubernetes.io/control-plane:NoSchedule.',
    default: 'false',
    scope: 'cluster',
    check: checkOneOf(BOOLEANS),
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
    summary:
      "Where containerd, runc and Docker come from: auto (the distribution's packages where upstream supports their containerd under KUBE_VERSION, else Docker's repository, else the release binaries), package (the distribution's or Docker's packages), docker (Docker's repository), static (the release binaries: the offline bundle's, or downloaded; bundle is its older name). The plan says which, and why.",
    default: 'auto',
    scope: 'host',
    check: checkOneOf(CONTAINER_RUNTIME_SOURCES),
  },
  DOCKER_YUM_REPO: {
    summary: 'Base URL of the docker-ce yum repository on EL hosts (docker-ce, docker-ce-cli, containerd.io); a mirror or an offline copy works the same way.',
    default: 'https://download.docker.com/linux/centos/$releasever/$basearch/stable',
    scope: 'host',
    check: checkYumRepoUrl,
  },
  DOCKER_YUM_GPGKEY: {
    summary: "URL of the key that signs the docker-ce repository's packages: yum and dnf install nothing it has not signed.",
    default: 'https://download.docker.com/linux/centos/gpg',
    scope: 'host',
    check: checkYumRepoUrl,
  },
  DOCKER_APT_REPO: {
    summary:
      "Base URL of Docker's apt repository on Debian and Ubuntu hosts (containerd.io, docker-ce, docker-ce-cli; suite: the release's codename, component stable); $distro is os-release's ID (debian, ubuntu). A mirror works the same way.",
    default: 'https://download.docker.com/linux/$distro',
    scope: 'host',
    check: checkAptRepoUrl,
  },
  DOCKER_APT_GPGKEY: {
    summary: "URL of the key that signs Docker's apt repository (fetched on the host into /etc/apt/keyrings): apt installs nothing it has not signed.",
    default: 'https://download.docker.com/linux/$distro/gpg',
    scope: 'host',
    check: checkAptRepoUrl,
  },
  EL_BASE_REPO: {
    summary:
      "EL 7: base URL of a vault or local mirror of the release's own repositories (os, updates, extras below it), written to /etc/yum.repos.d/CentOS-Base.repo in place of the mirrorlist that is gone since CentOS 7's end of life. Empty: the release's own file stays.",
    default: '',
    scope: 'host',
    check: checkMirrorUrl,
    optional: true,
  },
  DOCKER_BIP: {
    summary: "Address and prefix of Docker's bridge (docker0); must overlap neither CLUSTER_CIDR, SERVICE_CIDR nor the hosts' network.",
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
    summary: "Size at which a container's log file is rotated.",
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
    summary: "tls (default): TLS with the cluster's own CA everywhere. insecure: the tutorials' plain HTTP, only where the version allows it.",
    default: 'tls',
    scope: 'cluster',
    check: checkOneOf(SECURITY_MODES),
  },
  CA_VALIDITY_DAYS: {
    summary: "Days the cluster's CAs (Kubernetes, etcd, front proxy) are valid when kubestrap creates them.",
    default: '3650',
    scope: 'cluster',
    check: checkInteger(30, 36500),
  },
  CERT_VALIDITY_DAYS: {
    summary: 'Days a certificate kubestrap issues (servers, clients, kubeconfigs) is valid; never past its CA.',
    default: '365',
    scope: 'cluster',
    check: checkInteger(2, 3650),
  },
  CERT_RENEW_BEFORE_DAYS: {
    summary: 'A certificate that expires within this many days is re-issued by the next apply.',
    default: '30',
    scope: 'cluster',
    check: checkInteger(1, 3649),
  },
  APISERVER_EXTRA_SANS: {
    summary: 'More names for the API server certificate, comma-separated IPv4 addresses or DNS names. Empty: none.',
    default: '',
    scope: 'cluster',
    check: checkEach(checkSubjectAltName),
    optional: true,
  },
} as const satisfies Record<string, KeySpec>;

export type KnownKey = keyof typeof KNOWN_KEYS;

/** Values that come from the inventory, one per host; config.properties may not set them. */
export const HOST_DERIVED_KEYS = ['NODE_IP', 'NODE_NAME'] as const;

export function isKnownKey(key: string): key is KnownKey {
  return Object.hasOwn(KNOWN_KEYS, key);
}
