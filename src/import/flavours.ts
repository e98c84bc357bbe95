import type { Role } from '../config/inventory-schema.js';
import type { KnownKey } from '../config/keys.js';
import type { AnsibleValue, Sourced } from './ansible-inventory.js';

/**
 * What kubeasz's and kubespray's variables and groups mean to kubestrap. Each tool's knowledge is a
 * table here, so that adding a variable is one line and the import code stays the same for both.
 */
export const FORMATS = ['kubeasz', 'kubespray'] as const;
export type ImportFormat = (typeof FORMATS)[number];

/** A variable's value as kubestrap takes it: a property value, already kubestrap's own, or refused. */
export type Conversion = { value: string } | { same: string } | { refused: string; hint?: string };

export interface PropertyMapping {
  key: KnownKey;
  /** From the variable's value (text, or a list for list keys) to the property's; default: the text as is. */
  convert?: (value: AnsibleValue) => Conversion;
}

/** A variable kubestrap needs no key for when it says what kubestrap does anyway. */
export interface SettledVariable {
  settled: (value: string) => Conversion;
}

export interface Flavour {
  format: ImportFormat;
  /**
   * The groups whose hosts get kubestrap roles. Masters are nodes in both tools, kept off ordinary
   * pods unless they are in a worker group as well (kubestrap's MASTER_SCHEDULABLE).
   */
  roles: Readonly<Record<string, readonly Role[]>>;
  /** Groups with hosts kubestrap has no place for, and why. */
  otherGroups: Readonly<Record<string, string>>;
  /** Cluster-wide variables. */
  variables: Readonly<Record<string, PropertyMapping | SettledVariable>>;
  /** The host variable that names the Kubernetes node, if the tool has one. */
  nodeNameVar?: string;
  /** The host variable with the address the cluster uses (kubestrap's internalAddress). */
  internalAddressVar?: string;
  /** The node name a host gets when nothing names it, as the tool makes it (from the host's variables). */
  defaultNodeName: (inventoryName: string, vars: ReadonlyMap<string, Sourced>) => string;
  /** Which address of SERVICE_CIDR the tool gives the cluster DNS (kubestrap's CLUSTER_DNS_SVC_IP). */
  dnsServiceIndex: number;
  /** A group whose host is the SSH jump host for all the others. */
  jumpGroup?: string;
  /** The variable naming the cluster, if the tool has one (kubestrap's inventory `cluster`), and how to read the name from it. */
  clusterNameVar?: string;
  clusterNameOf?: (value: AnsibleValue) => string | undefined;
  /**
   * Groups the tool makes at run time out of others (kubespray's dynamic_groups role), whose
   * group_vars apply to those hosts although the inventory never lists them.
   */
  dynamicGroups?: Readonly<Record<string, readonly string[]>>;
  /** Host variables kubestrap reads but does not carry over, and why. */
  hostNotes: Readonly<Record<string, string>>;
}

const text = (value: AnsibleValue): Conversion =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? { value: String(value) } : { refused: `is ${describe(value)}, not a single value` };

const list = (value: AnsibleValue): Conversion => (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number') ? { value: value.join(',') } : text(value));

/** Kubernetes and etcd tags start with `v`; kubespray writes versions with or without it. */
const version = (value: AnsibleValue): Conversion => {
  const converted = text(value);
  return 'value' in converted && /^\d/.test(converted.value) ? { value: `v${converted.value}` } : converted;
};

/** kubeasz before 3.x wrote the cluster domain fully qualified (`cluster.local.`): the same domain without the root's dot. */
const domain = (value: AnsibleValue): Conversion => {
  const converted = text(value);
  return 'value' in converted ? { value: converted.value.replace(/(?<=.)\.$/, '') } : converted;
};

/** kubeasz writes certificate lifetimes as Go durations in hours (`876000h`); kubestrap takes days. */
const hoursToDays = (value: AnsibleValue): Conversion => {
  const m = /^(\d+)h$/.exec(String(value));
  if (!m || Number(m[1]) % 24 !== 0) return { refused: `"${String(value)}" is not a whole number of days written in hours (e.g. 87600h)` };
  return { value: String(Number(m[1]) / 24) };
};

const only =
  (expected: string, what: string, hint: string) =>
  (value: string): Conversion =>
    value === expected ? { same: `kubestrap's ${what} is ${expected} too` } : { refused: `kubestrap's ${what} is ${expected}: ${value} is not carried over`, hint };

const NETWORK = { settled: only('flannel', 'pod network', 'the imported cluster runs flannel (FLANNEL_BACKEND, FLANNEL_MODE); a cluster that runs another network cannot be taken over in place') };
const RUNTIME = { settled: only('containerd', 'container runtime', 'the imported cluster runs containerd') };

export function describe(value: AnsibleValue): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'empty';
  return typeof value === 'object' ? 'a mapping' : `"${String(value)}"`;
}

/** kubeasz's hosts (clusters/NAME/hosts) and config.yml beside it, as `ezctl new` writes them. */
const KUBEASZ: Flavour = {
  format: 'kubeasz',
  // kubeasz's 04.kube-master.yml gives masters the kube-node role too: they are nodes, cordoned unless in kube_node.
  // Before 3.0 kubeasz wrote the groups kube-master and kube-node (and ex-lb, lb, deploy, new-*).
  roles: { etcd: ['etcd'], kube_master: ['master', 'worker'], kube_node: ['worker'], 'kube-master': ['master', 'worker'], 'kube-node': ['worker'] },
  otherGroups: {
    ex_lb: 'kubestrap sets up no load balancer hosts: with MASTER_IP empty and several masters each node gets its own (haproxy on 127.0.0.1); point MASTER_IP at one you run to use it instead',
    'ex-lb': 'kubestrap sets up no load balancer hosts: with MASTER_IP empty and several masters each node gets its own (haproxy on 127.0.0.1); point MASTER_IP at one you run to use it instead',
    lb: 'kubestrap sets up no haproxy or keepalived on the masters: with MASTER_IP empty and several masters each other node gets its own haproxy on 127.0.0.1; point MASTER_IP at a load balancer you run to use it instead',
    deploy: 'kubestrap runs from the machine you start it on; it needs no deploy host',
    'new-master': 'kubeasz adds these masters with easzctl add-master; list them in kube-master to import them as masters',
    'new-node': 'kubeasz adds these nodes with easzctl add-node; list them in kube-node to import them as workers',
    'new-etcd': 'kubeasz adds these etcd members with easzctl add-etcd; list them in etcd to import them as etcd members',
    harbor: 'kubestrap sets up no registry; IMAGE_REGISTRY and DOCKER_REGISTRY_MIRRORS point at one you run',
    chrony: 'kubestrap sets up no time server; its preflight refuses hosts whose clocks differ',
  },
  variables: {
    SECURE_PORT: { key: 'KUBE_APISERVER_PORT' },
    CONTAINER_RUNTIME: RUNTIME,
    CLUSTER_NETWORK: NETWORK,
    PROXY_MODE: { key: 'KUBE_PROXY_MODE' },
    SERVICE_CIDR: { key: 'SERVICE_CIDR' },
    CLUSTER_CIDR: { key: 'CLUSTER_CIDR' },
    NODE_PORT_RANGE: { key: 'NODE_PORT_RANGE' },
    CLUSTER_DNS_DOMAIN: { key: 'CLUSTER_DOMAIN', convert: domain },
    bin_dir: { key: 'BIN_PATH' },
    K8S_VER: { key: 'KUBE_VERSION', convert: version },
    flannel_ver: { key: 'FLANNEL_VERSION', convert: version },
    FLANNEL_BACKEND: { key: 'FLANNEL_BACKEND' },
    NODE_CIDR_LEN: { key: 'NODE_CIDR_MASK_SIZE' },
    MASTER_CERT_HOSTS: { key: 'APISERVER_EXTRA_SANS', convert: list },
    CA_EXPIRY: { key: 'CA_VALIDITY_DAYS', convert: hoursToDays },
    CERT_EXPIRY: { key: 'CERT_VALIDITY_DAYS', convert: hoursToDays },
    ETCD_DATA_DIR: { settled: (v) => (v === '/var/lib/etcd' ? { same: "kubestrap's etcd data folder is /var/lib/etcd too" } : { refused: `kubestrap keeps etcd's data in /var/lib/etcd, not ${v}` }) },
  },
  nodeNameVar: 'k8s_nodename',
  // `ezctl new NAME` writes cluster_dir="{{ base_dir }}/clusters/NAME" (config.yml's CLUSTER_NAME is
  // the kubeconfig's cluster, "cluster1" in every cluster).
  clusterNameVar: 'cluster_dir',
  clusterNameOf: (value) => {
    const name = typeof value === 'string' ? /\/clusters\/([^/{}\s]+)$/.exec(value)?.[1] : undefined;
    return name === '_cluster_name_' ? undefined : name;
  },
  // kubeasz 2.x named its etcd members with NODE_NAME on the [etcd] hosts.
  hostNotes: { NODE_NAME: 'kubestrap names each etcd member after its host' },
  // config.yml's K8S_NODENAME: k8s_nodename lower-cased with _ as -, else k8s-<inventory name, . as ->
  // since kubeasz 3.6.4; before, the node was the inventory name. Without config.yml: a 2.x hosts file
  // (no cluster_dir, which ezctl brought in 3.0) named it so; a 3.x one alone is taken as today's kubeasz's.
  defaultNodeName: (name, vars) => {
    const template = vars.get('K8S_NODENAME')?.value;
    const prefixed = typeof template === 'string' ? /k8s-\{\{\s*inventory_hostname/.test(template) : vars.has('cluster_dir');
    return prefixed ? `k8s-${name.replaceAll('.', '-')}` : name;
  },
  // kubeasz's CLUSTER_DNS_SVC_IP is SERVICE_CIDR | ipaddr(2).
  dnsServiceIndex: 2,
};

/** kubespray's inventory (INI or hosts.yaml) with its group_vars/ and host_vars/ folders. */
const KUBESPRAY: Flavour = {
  format: 'kubespray',
  // Every host of k8s_cluster runs a kubelet: control plane hosts are nodes too, tainted unless in kube_node.
  roles: { etcd: ['etcd'], kube_control_plane: ['master', 'worker'], 'kube-master': ['master', 'worker'], kube_node: ['worker'], 'kube-node': ['worker'] },
  otherGroups: {
    calico_rr: 'kubestrap runs flannel, which has no route reflectors',
  },
  variables: {
    kube_service_addresses: { key: 'SERVICE_CIDR' },
    kube_pods_subnet: { key: 'CLUSTER_CIDR' },
    kube_network_node_prefix: { key: 'NODE_CIDR_MASK_SIZE' },
    kube_apiserver_port: { key: 'KUBE_APISERVER_PORT' },
    kube_apiserver_node_port_range: { key: 'NODE_PORT_RANGE' },
    kube_proxy_mode: { key: 'KUBE_PROXY_MODE' },
    // kubespray's dns_domain defaults to "{{ cluster_name }}": cluster_name is the DNS domain.
    dns_domain: { key: 'CLUSTER_DOMAIN', convert: domain },
    cluster_name: { key: 'CLUSTER_DOMAIN', convert: domain },
    skydns_server: { key: 'CLUSTER_DNS_SVC_IP' },
    kube_version: { key: 'KUBE_VERSION', convert: version },
    etcd_version: { key: 'ETCD_VERSION', convert: version },
    flannel_version: { key: 'FLANNEL_VERSION', convert: version },
    cni_version: { key: 'CNI_PLUGINS_VERSION', convert: version },
    containerd_version: { key: 'CONTAINERD_VERSION', convert: version },
    runc_version: { key: 'RUNC_VERSION', convert: version },
    bin_dir: { key: 'BIN_PATH' },
    flannel_backend_type: { key: 'FLANNEL_BACKEND' },
    flannel_interface: { key: 'FLANNEL_IFACE' },
    supplementary_addresses_in_ssl_keys: { key: 'APISERVER_EXTRA_SANS', convert: list },
    kube_network_plugin: NETWORK,
    container_manager: RUNTIME,
  },
  internalAddressVar: 'ip',
  hostNotes: {
    access_ip: "kubestrap's hosts reach each other at internalAddress (kubespray's ip, else the SSH address)",
    etcd_member_name: 'kubestrap names each etcd member after its host',
  },
  defaultNodeName: (name) => name,
  // kubespray's skydns_server is kube_service_addresses | ipaddr(3).
  dnsServiceIndex: 3,
  jumpGroup: 'bastion',
  // roles/dynamic_groups/tasks/main.yml: old names, and k8s_cluster (group_vars/k8s_cluster/ of the sample).
  dynamicGroups: {
    kube_control_plane: ['kube-master'],
    kube_node: ['kube-node'],
    calico_rr: ['calico-rr'],
    k8s_cluster: ['kube_node', 'kube_control_plane', 'calico_rr'],
  },
};

export const FLAVOURS: Readonly<Record<ImportFormat, Flavour>> = { kubeasz: KUBEASZ, kubespray: KUBESPRAY };

export function isPropertyMapping(m: PropertyMapping | SettledVariable): m is PropertyMapping {
  return 'key' in m;
}

export const textValue = text;

/** How Ansible is told to reach a host, in both tools' inventories. */
export const CONNECTION_VARS = {
  address: ['ansible_host', 'ansible_ssh_host'],
  port: ['ansible_port', 'ansible_ssh_port'],
  user: ['ansible_user', 'ansible_ssh_user'],
  keyFile: ['ansible_ssh_private_key_file', 'ansible_private_key_file'],
} as const;

/**
 * Secrets in an inventory: kubestrap takes only the name of an environment variable holding one, so
 * their values are neither carried over nor shown.
 */
export const SECRET_VARS: Readonly<Record<string, string>> = {
  ansible_password: 'passwordEnv',
  ansible_ssh_pass: 'passwordEnv',
  ansible_become_password: 'sudoPasswordEnv',
  ansible_become_pass: 'sudoPasswordEnv',
  ansible_sudo_pass: 'sudoPasswordEnv',
  ansible_ssh_private_key_passphrase: 'passphraseEnv',
};

/**
 * Names of settings that may hold a secret (a token, a key, a password) whose value the report must
 * not show, whatever it is: only its name and where it is.
 */
export function looksSecret(name: string): boolean {
  return /pass|secret|token|credential|vault|(^|_)key($|_)/i.test(name) && !/_(file|dir|path)$/i.test(name);
}

/** Why Ansible's own settings have no kubestrap counterpart, for the ones inventories commonly hold. */
export const ANSIBLE_SETTINGS: Readonly<Record<string, string>> = {
  ansible_python_interpreter: 'kubestrap runs no Python on the hosts',
  ansible_connection: 'kubestrap always connects over SSH',
  ansible_become: 'kubestrap uses sudo whenever the SSH user is not root',
  ansible_become_user: 'kubestrap becomes root through sudo',
  ansible_become_method: 'kubestrap becomes root through sudo',
};
