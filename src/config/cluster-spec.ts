import { join } from 'node:path';
import { ConfigError, InvalidInputError, InventoryError, SshConfigError, type KubestrapError, type Warning } from '../errors.js';
import { containerdSupportText, DEFAULT_PORTS, insecureModeProblem, kubeletRefusesCgroupV1, settingProblem, settingWarning, type KubeVersion, type ProjectVersions } from '../upstream/index.js';
import { checkPropertyValues, problemAt } from './config-checks.js';
import type { Role } from './inventory-schema.js';
import type { SshTarget } from '../ssh/target.js';
import { loadInventory, resolveInventoryPath, type LoadedInventory } from './inventory.js';
import { HOST_DERIVED_KEYS } from './keys.js';
import { projectVersions } from './project-versions.js';
import { readProperties, type PropertiesFile } from './properties.js';
import { SshConfig, type SshConfigSource } from './ssh-config.js';
import { sshTarget } from './ssh-targets.js';
import { cidrContains, cidrsOverlap, parseCidr, splitList, type Cidr } from './validators.js';

/** Values computed from the inventory; a properties file may not set them. */
export const CLUSTER_DERIVED_KEYS = ['ETCD_INITIAL_CLUSTER', 'KUBE_APISERVER_URL', 'API_LB'] as const;

export interface HostSpec {
  name: string;
  /** Where SSH connects. */
  address: string;
  /** The address the cluster uses for this host (NODE_IP). */
  nodeIp: string;
  roles: Role[];
  ssh: SshTarget;
  /** Template variables for this host: cluster values, the host's overrides, NODE_IP and NODE_NAME. */
  values: Record<string, string>;
  /** Marked `remove: true`: the host leaves the cluster in this run (ClusterSpec.leaving). */
  leaving?: true;
}

export interface ClusterSpec {
  name: string;
  inventoryFile: string;
  configFile: string;
  stateDir: string;
  knownHostsFile: string;
  kubeVersion: KubeVersion;
  /** The version of every upstream project the cluster runs (Kubernetes, etcd, flannel, ...). */
  versions: ProjectVersions;
  /** Cluster-wide values with defaults and derived values filled in. */
  values: Record<string, string>;
  /** The hosts the cluster should have: everything derived from membership (etcd endpoints, /etc/hosts, SANs) comes from these. */
  hosts: HostSpec[];
  /**
   * Hosts marked `remove: true`: they get no bring-up phase, only the steps that take them out of the
   * cluster (drain, Node and etcd member gone) and the removal of what kubestrap installed there.
   */
  leaving: HostSpec[];
  warnings: Warning[];
}

export interface ClusterSources {
  inventoryFile: string;
  configFile: string;
  /** Where hosts the inventory does not say how to reach are looked up (default: no ssh_config). */
  sshConfig?: SshConfigSource;
}

/** Reads and validates both inputs; throws InvalidInputError listing every problem found. */
export function loadClusterSpec(sources: ClusterSources): ClusterSpec {
  const problems: KubestrapError[] = [];
  const warnings: Warning[] = [];

  const sshConfig = readSshConfig(sources.sshConfig ?? { kind: 'none' }, problems);
  warnings.push(...(sshConfig?.warnings ?? []));
  const inventory = sshConfig ? loadInventory(sources.inventoryFile, sshConfig) : { problems: [], warnings: [] };
  problems.push(...inventory.problems);
  warnings.push(...inventory.warnings);

  const props = readProperties(sources.configFile, problems);
  if (!props) throw new InvalidInputError(problems, warnings);

  const checked = checkPropertyValues(props, 'cluster');
  problems.push(...checked.problems);
  warnings.push(...checked.warnings);
  if (!inventory.loaded || problems.length) throw new InvalidInputError(problems, warnings);

  const spec = buildSpec(sources, inventory.loaded, props, checked.values, warnings);
  const clusterProblems = checkAgainstInventory(props, spec);
  if (clusterProblems.length) throw new InvalidInputError(clusterProblems, warnings);
  return spec;
}

/** The ssh_config to read, or undefined with its problem added (a file given with -F that does not exist, an unreadable Include). */
function readSshConfig(source: SshConfigSource, problems: KubestrapError[]): SshConfig | undefined {
  try {
    return SshConfig.read(source);
  } catch (err) {
    if (!(err instanceof SshConfigError)) throw err;
    problems.push(err);
    return undefined;
  }
}

function buildSpec(sources: ClusterSources, loaded: LoadedInventory, props: PropertiesFile, fileValues: Record<string, string>, warnings: Warning[]): ClusterSpec {
  const inv = loaded.inventory;
  const all = inv.hosts.map((h) => ({ ...h, nodeIp: h.internalAddress ?? h.address }));
  const hosts = all.filter((h) => h.remove !== true);
  const values = { ...fileValues };
  const tls = values.SECURITY_MODE === 'tls';
  const etcdHosts = hosts.filter((h) => h.roles.includes('etcd'));
  const firstMaster = hosts.find((h) => h.roles.includes('master'))!;

  // LB mode: the other nodes reach the masters through a load balancer of their own (see keys.ts).
  values.API_LB = String(values.MASTER_IP === '' && hosts.filter((h) => h.roles.includes('master')).length >= 2);
  if (values.MASTER_IP === '') values.MASTER_IP = firstMaster.nodeIp;
  if (values.ETCD_ENDPOINTS === '') {
    values.ETCD_ENDPOINTS = etcdHosts.map((h) => `${tls ? 'https' : 'http'}://${h.nodeIp}:${DEFAULT_PORTS.etcdClient}`).join(',');
  }
  values.ETCD_INITIAL_CLUSTER = etcdHosts.map((h) => `${h.name}=${tls ? 'https' : 'http'}://${h.nodeIp}:${DEFAULT_PORTS.etcdPeer}`).join(',');
  values.KUBE_APISERVER_URL = `https://${values.MASTER_IP}:${values.KUBE_APISERVER_PORT}`;

  if (props.entries.has('MASTER_IP') && !hosts.some((h) => h.roles.includes('master') && h.nodeIp === values.MASTER_IP)) {
    warnings.push({
      where: `${props.file}:${props.entries.get('MASTER_IP')!.line} MASTER_IP`,
      message: `${values.MASTER_IP} is not the address of a master in the inventory`,
      hint: "fine for a load balancer in front of the masters; otherwise use a master's address or leave it empty",
    });
  }

  const versions = projectVersions(values);
  const proxyWarning = settingWarning('KUBE_PROXY_MODE', values.KUBE_PROXY_MODE!, versions.kubernetes);
  if (proxyWarning) warnings.push({ where: `${props.file} KUBE_PROXY_MODE`, message: proxyWarning.message, hint: proxyWarning.hint });
  if (values.KUBELET_ALLOW_CGROUP_V1 === 'true' && kubeletRefusesCgroupV1(versions.kubernetes)) {
    warnings.push({
      where: `${props.file} KUBELET_ALLOW_CGROUP_V1`,
      message: `kubelets of ${versions.kubernetes.tag} are told to run on cgroup v1 hosts (failCgroupV1: false); upstream deprecated cgroup v1 and will remove its support`,
      hint: 'move the hosts to cgroup v2 (systemd.unified_cgroup_hierarchy=1), then remove KUBELET_ALLOW_CGROUP_V1',
    });
  }

  if (values.CONTAINERD_ALLOW_UNSUPPORTED === 'true') {
    const kube = versions.kubernetes;
    warnings.push({
      where: `${props.file} CONTAINERD_ALLOW_UNSUPPORTED`,
      message: `a containerd outside containerd's table for Kubernetes ${kube.major}.${kube.minor} (${containerdSupportText(kube)}) is taken where no source offers one in it (the plan says which host's runtime is); upstream does not test such a pair`,
      hint: `run a containerd of ${containerdSupportText(kube)} (CONTAINERD_VERSION with CONTAINER_RUNTIME_SOURCE=static, or Docker's repository), then remove CONTAINERD_ALLOW_UNSUPPORTED`,
    });
  }

  warnings.push(...podlessMasterWarnings(props, values, hosts));

  const stateDir = inv.stateDir ? resolveInventoryPath(loaded, inv.stateDir) : join(loaded.baseDir, '.kubestrap', inv.cluster);
  return {
    name: inv.cluster,
    inventoryFile: sources.inventoryFile,
    configFile: sources.configFile,
    stateDir,
    knownHostsFile: inv.ssh?.knownHosts ? resolveInventoryPath(loaded, inv.ssh.knownHosts) : join(stateDir, 'known_hosts'),
    kubeVersion: versions.kubernetes,
    versions,
    values,
    hosts: hosts.map(hostSpec),
    leaving: all.filter((h) => h.remove === true).map((h) => ({ ...hostSpec(h), leaving: true as const })),
    warnings,
  };

  function hostSpec(h: InventoryHostWithIp): HostSpec {
    return {
      name: h.name,
      address: h.address,
      nodeIp: h.nodeIp,
      roles: [...h.roles],
      ssh: sshTarget(inv, h, (path) => resolveInventoryPath(loaded, path)),
      values: { ...values, ...h.properties, NODE_IP: h.nodeIp, NODE_NAME: h.name },
    };
  }
}

type InventoryHostWithIp = LoadedInventory['inventory']['hosts'][number] & { nodeIp: string };

/**
 * With FLANNEL_MODE=kube, flanneld follows its own Node, so a master that is not a worker runs
 * neither flanneld nor kube-proxy: its API server reaches no pod, directly (what
 * --enable-aggregator-routing does, which the unit then leaves out) or through a Service. Aggregated
 * APIs and admission webhooks served from pods fail on it; the rest of the cluster works.
 */
function podlessMasterWarnings(props: PropertiesFile, values: Record<string, string>, hosts: readonly InventoryHostWithIp[]): Warning[] {
  if (values.FLANNEL_MODE !== 'kube') return [];
  const podless = hosts.filter((h) => h.roles.includes('master') && !h.roles.includes('worker')).map((h) => h.name);
  if (podless.length === 0) return [];
  const entry = props.entries.get('FLANNEL_MODE');
  return [
    {
      where: `${props.file}${entry ? `:${entry.line}` : ''} FLANNEL_MODE`,
      message: `in kube mode, masters that are not workers run neither flanneld nor kube-proxy (${podless.join(', ')}): their API servers cannot reach pods, so aggregated APIs (metrics-server, kubectl top) and admission webhooks served from pods fail there (--enable-aggregator-routing is left out, as it cannot work)`,
      hint: 'give the masters the worker role as well (they stay tainted NoSchedule unless MASTER_SCHEDULABLE=true), or use FLANNEL_MODE=etcd, in which every master runs flanneld',
    },
  ];
}

function checkAgainstInventory(props: PropertiesFile, spec: ClusterSpec): KubestrapError[] {
  const problems: KubestrapError[] = [];
  const { values } = spec;

  for (const key of [...HOST_DERIVED_KEYS, ...CLUSTER_DERIVED_KEYS]) {
    const entry = props.entries.get(key);
    if (entry) {
      problems.push(new ConfigError(props.file, entry.line, key, 'is derived from the inventory and cannot be set here', `remove the line; ${derivedFrom(key)}`));
    }
  }
  for (const key of ['SERVICE_CIDR', 'CLUSTER_CIDR'] as const) {
    const cidr = parseCidr(values[key]!)!;
    const inside = spec.hosts.find((h) => cidrContains(cidr, h.nodeIp));
    if (inside) {
      problems.push(problemAt(props, key, `${values[key]} contains host ${inside.name}'s address ${inside.nodeIp}`, "pick a range that does not overlap the hosts' network"));
    }
  }
  problems.push(...checkPodSubnets(props, spec));
  problems.push(...checkDockerBridges(props, spec));
  problems.push(...checkEtcdScheme(props, values));

  const version = spec.kubeVersion;
  const insecure = values.SECURITY_MODE === 'insecure' ? insecureModeProblem(version) : undefined;
  if (insecure) problems.push(problemAt(props, 'SECURITY_MODE', insecure.message, insecure.hint));
  const proxyMode = settingProblem('KUBE_PROXY_MODE', values.KUBE_PROXY_MODE!, version);
  if (proxyMode) problems.push(problemAt(props, 'KUBE_PROXY_MODE', proxyMode.message, proxyMode.hint));
  return problems;
}

function derivedFrom(key: string): string {
  switch (key) {
    case 'NODE_IP':
      return "each host's address (or internalAddress) in the inventory is its NODE_IP";
    case 'NODE_NAME':
      return "each host's name in the inventory is its NODE_NAME";
    case 'API_LB':
      return 'API_LB is true with two or more masters and MASTER_IP empty; set MASTER_IP to an external load balancer instead of the node-local ones';
    default:
      return `${key} is computed from the inventory's hosts`;
  }
}

function checkPodSubnets(props: PropertiesFile, spec: ClusterSpec): ConfigError[] {
  const pods = parseCidr(spec.values.CLUSTER_CIDR!)!;
  const mask = Number(spec.values.NODE_CIDR_MASK_SIZE);
  if (mask <= pods.prefix) {
    return [
      problemAt(
        props,
        'NODE_CIDR_MASK_SIZE',
        `/${mask} per node does not fit into CLUSTER_CIDR ${spec.values.CLUSTER_CIDR}`,
        `use a value larger than ${pods.prefix}, e.g. ${Math.min(pods.prefix + 8, 28)}`,
      ),
    ];
  }
  const nodes = spec.hosts.filter((h) => h.roles.includes('master') || h.roles.includes('worker')).length;
  const subnets = 2 ** (mask - pods.prefix);
  if (subnets < nodes) {
    return [
      problemAt(
        props,
        'CLUSTER_CIDR',
        `${spec.values.CLUSTER_CIDR} holds ${subnets} node subnets of /${mask}, but the inventory has ${nodes} nodes`,
        'use a wider CLUSTER_CIDR or a larger NODE_CIDR_MASK_SIZE',
      ),
    ];
  }
  return [];
}

/**
 * Docker's bridge takes its whole range on every host: pods, Services or hosts addressed inside it
 * would be routed to docker0 instead. Each host's value is checked (the inventory may override it).
 */
function checkDockerBridges(props: PropertiesFile, spec: ClusterSpec): KubestrapError[] {
  const problems: KubestrapError[] = [];
  const hint = 'pick a bridge range that overlaps no pod, Service or host address, e.g. 192.168.254.1/24';
  // Every host usually shares one value: each distinct one is checked once against every host, not per host (1000 hosts: a million address checks).
  const clashes = new Map<string, string | undefined>();
  for (const [index, host] of spec.hosts.entries()) {
    const value = host.values.DOCKER_BIP!;
    if (!clashes.has(value)) clashes.set(value, dockerBridgeClash(parseCidr(value)!, spec));
    const clash = clashes.get(value);
    if (!clash) continue;
    const problem =
      value === spec.values.DOCKER_BIP
        ? problemAt(props, 'DOCKER_BIP', `${value} overlaps ${clash}`, hint)
        : new InventoryError(spec.inventoryFile, ['hosts', index, 'properties', 'DOCKER_BIP'], undefined, `${value} overlaps ${clash}`, hint);
    if (!problems.some((p) => p.format() === problem.format())) problems.push(problem);
  }
  return problems;
}

function dockerBridgeClash(bridge: Cidr, spec: ClusterSpec): string | undefined {
  for (const key of ['CLUSTER_CIDR', 'SERVICE_CIDR'] as const) {
    if (cidrsOverlap(bridge, parseCidr(spec.values[key]!)!)) return `${key} ${spec.values[key]}`;
  }
  const host = spec.hosts.find((h) => cidrContains(bridge, h.nodeIp));
  return host ? `host ${host.name}'s address ${host.nodeIp}` : undefined;
}

function checkEtcdScheme(props: PropertiesFile, values: Record<string, string>): ConfigError[] {
  const want = values.SECURITY_MODE === 'tls' ? 'https:' : 'http:';
  const wrong = splitList(values.ETCD_ENDPOINTS!).find((url) => new URL(url).protocol !== want);
  if (!wrong || !props.entries.has('ETCD_ENDPOINTS')) return [];
  return [
    problemAt(
      props,
      'ETCD_ENDPOINTS',
      `${wrong} does not use ${want.slice(0, -1)}, which SECURITY_MODE=${values.SECURITY_MODE} requires`,
      `write ${want}//... endpoints, or leave ETCD_ENDPOINTS empty to derive them from the inventory`,
    ),
  ];
}
