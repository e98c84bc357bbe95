import { minorAtLeast, type KubeVersion } from './version.js';

/**
 * What upstream removed from the Kubernetes components' command lines, and when. Templates are written for the supported versions; this table is
 * the guard that makes sure no rendered unit ever passes a flag its binary rejects ("unknown flag"
 * makes the service crash-loop), whatever template tree is used. It also decides which settings a
 * version allows (the insecure port, kube-proxy's nftables mode).
 */
export const KUBE_COMPONENTS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const;
export type KubeComponent = (typeof KUBE_COMPONENTS)[number];

export interface RemovedFlag {
  flag: string;
  /** First MAJOR.MINOR in which kubestrap refuses the flag (see `status`). */
  removedIn: string;
  /**
   * `removed`: the binary rejects it ("unknown flag") from `removedIn` on. `deprecated`: still accepted
   * but superseded since `removedIn`; emitting it would only carry a tutorial-era mistake forward.
   */
  status: 'removed' | 'deprecated';
  instead: string;
}

const removed = (flag: string, removedIn: string, instead: string): RemovedFlag => ({ flag, removedIn, status: 'removed', instead });
const deprecated = (flag: string, since: string, instead: string): RemovedFlag => ({ flag, removedIn: since, status: 'deprecated', instead });

/** klog's file-logging flags left every component in 1.26 (KEP-2845, kubernetes#112120). */
const KLOG_FLAGS: RemovedFlag[] = [
  '--log-dir',
  '--log-file',
  '--log-file-max-size',
  '--logtostderr',
  '--alsologtostderr',
  '--one-output',
  '--skip-headers',
  '--skip-log-headers',
  '--add-dir-header',
  '--stderrthreshold',
  '--log-backtrace-at',
].map((flag) => removed(flag, '1.26', 'drop it: components log to stderr and journald keeps the log'));

const INSECURE_SERVING = 'drop it: the secure port (--secure-port / --bind-address) is the only one left';
const SCHEDULER_CONFIG = 'use a KubeSchedulerConfiguration file with --config';
const CNI_IN_RUNTIME = 'drop it: the container runtime (containerd) runs CNI and holds its paths';

// Removal versions come from the upstream changelogs and PRs (e.g. insecure serving: #95856,
// dockershim flags: #106907, --container-runtime: #114017, --keep-terminated-pod-volumes: #122082).
export const REMOVED_FLAGS: Readonly<Record<KubeComponent, readonly RemovedFlag[]>> = {
  'kube-apiserver': [
    removed('--insecure-bind-address', '1.24', INSECURE_SERVING),
    removed('--insecure-port', '1.24', INSECURE_SERVING),
    removed('--address', '1.24', 'use --bind-address'),
    removed('--port', '1.24', 'use --secure-port'),
    deprecated('--admission-control', '1.10', 'use --enable-admission-plugins (and --disable-admission-plugins)'),
    removed('--kubelet-https', '1.22', 'drop it: the apiserver always talks HTTPS to kubelets'),
    removed('--enable-swagger-ui', '1.24', 'drop it: OpenAPI is served at /openapi/v2 and /openapi/v3'),
    removed('--basic-auth-file', '1.19', 'use client certificates or --token-auth-file'),
    removed('--repair-malformed-updates', '1.14', 'drop it'),
    removed('--storage-versions', '1.14', 'drop it'),
    removed('--experimental-encryption-provider-config', '1.24', 'use --encryption-provider-config'),
    removed('--deserialization-cache-size', '1.24', 'drop it'),
    removed('--target-ram-mb', '1.24', 'drop it'),
    removed('--service-account-api-audiences', '1.25', 'use --api-audiences'),
    removed('--master-service-namespace', '1.27', 'drop it'),
    removed('--cloud-provider', '1.33', 'drop it: run an external cloud-controller-manager'),
    removed('--cloud-config', '1.33', 'drop it: run an external cloud-controller-manager'),
    ...KLOG_FLAGS,
  ],
  'kube-controller-manager': [
    removed('--insecure-experimental-approve-all-kubelet-csrs-for-group', '1.13', 'approve CSRs with RBAC'),
    removed('--horizontal-pod-autoscaler-use-rest-clients', '1.22', 'drop it'),
    removed('--address', '1.24', 'use --bind-address'),
    removed('--port', '1.24', 'use --secure-port'),
    removed('--deleting-pods-qps', '1.25', 'drop it'),
    removed('--deleting-pods-burst', '1.25', 'drop it'),
    removed('--register-retry-count', '1.25', 'drop it'),
    removed('--pod-eviction-timeout', '1.27', 'drop it: taint-based eviction replaced it'),
    removed('--enable-taint-manager', '1.27', 'drop it: taint-based eviction is always on'),
    removed('--volume-host-cidr-denylist', '1.31', 'drop it'),
    removed('--volume-host-allow-local-loopback', '1.31', 'drop it'),
    ...KLOG_FLAGS,
  ],
  'kube-scheduler': [
    removed('--address', '1.24', 'use --bind-address'),
    removed('--port', '1.24', 'use --secure-port'),
    removed('--algorithm-provider', '1.22', SCHEDULER_CONFIG),
    removed('--scheduler-name', '1.22', SCHEDULER_CONFIG),
    removed('--hard-pod-affinity-symmetric-weight', '1.22', SCHEDULER_CONFIG),
    removed('--policy-config-file', '1.23', SCHEDULER_CONFIG),
    removed('--policy-configmap', '1.23', SCHEDULER_CONFIG),
    removed('--policy-configmap-namespace', '1.23', SCHEDULER_CONFIG),
    removed('--use-legacy-policy-config', '1.23', SCHEDULER_CONFIG),
    removed('--lock-object-name', '1.28', 'use --leader-elect-resource-name'),
    removed('--lock-object-namespace', '1.28', 'use --leader-elect-resource-namespace'),
    ...KLOG_FLAGS,
  ],
  kubelet: [
    removed('--api-servers', '1.8', 'put the API server in the kubeconfig given by --kubeconfig'),
    removed('--require-kubeconfig', '1.10', 'drop it'),
    removed('--cadvisor-port', '1.12', 'drop it'),
    removed('--allow-privileged', '1.15', 'drop it: privileged pods are governed by Pod Security admission'),
    removed('--experimental-bootstrap-kubeconfig', '1.23', 'use --bootstrap-kubeconfig'),
    removed('--experimental-check-node-capabilities-before-mount', '1.23', 'drop it'),
    removed('--network-plugin', '1.24', CNI_IN_RUNTIME),
    removed('--network-plugin-mtu', '1.24', CNI_IN_RUNTIME),
    removed('--cni-bin-dir', '1.24', CNI_IN_RUNTIME),
    removed('--cni-conf-dir', '1.24', CNI_IN_RUNTIME),
    removed('--cni-cache-dir', '1.24', CNI_IN_RUNTIME),
    removed('--docker-endpoint', '1.24', 'use containerRuntimeEndpoint in the kubelet config'),
    removed('--image-pull-progress-deadline', '1.24', 'drop it'),
    removed('--non-masquerade-cidr', '1.24', 'drop it'),
    removed('--dynamic-config-dir', '1.24', 'use --config with a KubeletConfiguration file'),
    removed('--container-runtime', '1.27', 'drop it: every runtime is a remote CRI runtime'),
    removed('--master-service-namespace', '1.27', 'drop it'),
    deprecated('--pod-infra-container-image', '1.27', 'drop it: the runtime picks the pause image (removed in 1.35)'),
    removed('--pod-infra-container-image', '1.35', "drop it: set the pause image in the runtime (containerd's sandbox image)"),
    removed('--keep-terminated-pod-volumes', '1.31', 'drop it'),
    removed('--iptables-masquerade-bit', '1.31', 'drop it: kube-proxy owns its iptables marks'),
    removed('--iptables-drop-bit', '1.31', 'drop it: kube-proxy owns its iptables marks'),
    removed('--register-schedulable', '1.34', 'use --register-with-taints'),
    removed('--cloud-config', '1.34', 'drop it: run an external cloud-controller-manager'),
    ...KLOG_FLAGS,
  ],
  'kube-proxy': [removed('--resource-container', '1.16', 'drop it'), removed('--cleanup-ipvs', '1.21', 'use --cleanup'), removed('--proxy-port-range', '1.31', 'drop it'), ...KLOG_FLAGS],
};

/** What `version` says about a flag: the latest entry that applies (removed wins over an earlier deprecation). */
export function removedFlag(component: KubeComponent, flag: string, version: KubeVersion): RemovedFlag | undefined {
  const applies = REMOVED_FLAGS[component].filter((f) => f.flag === flag && minorAtLeast(version, f.removedIn));
  return applies.reduce<RemovedFlag | undefined>((latest, f) => (!latest || minorAtLeast(majorMinor(f.removedIn), latest.removedIn) ? f : latest), undefined);
}

function majorMinor(text: string): KubeVersion {
  const [major = 0, minor = 0] = text.split('.').map(Number);
  return { major, minor, patch: 0, tag: `v${major}.${minor}.0` };
}

/** A value a flag no longer accepts, e.g. an admission plugin that was removed. */
export interface RemovedValue {
  value: string;
  removedIn: string;
  instead: string;
}

interface ValueRule {
  component: KubeComponent;
  flags: string[];
  /** The removed values inside the flag's value, with when they went. */
  removedIn(value: string): Array<Omit<RemovedValue, 'instead'>>;
  instead: string;
}

const REMOVED_ADMISSION_PLUGINS: Record<string, string> = {
  PodSecurityPolicy: '1.25',
  // #122612
  SecurityContextDeny: '1.30',
};

const VALUE_RULES: ValueRule[] = [
  {
    component: 'kube-apiserver',
    flags: ['--enable-admission-plugins', '--disable-admission-plugins', '--admission-control'],
    removedIn: (value) =>
      value
        .split(',')
        .filter((p) => p in REMOVED_ADMISSION_PLUGINS)
        .map((p) => ({ value: p, removedIn: REMOVED_ADMISSION_PLUGINS[p]! })),
    instead: 'drop the plugin: Pod Security admission (namespace labels) replaces it',
  },
  {
    component: 'kubelet',
    flags: ['--cloud-provider'],
    // In-tree cloud providers left the kubelet in 1.31; only "" and "external" remain.
    removedIn: (value) => (value === '' || value === 'external' ? [] : [{ value, removedIn: '1.31' }]),
    instead: 'use --cloud-provider=external with an external cloud-controller-manager, or drop the flag',
  },
];

/** Values of `flag` that `version` rejects. */
export function removedValues(component: KubeComponent, flag: string, value: string, version: KubeVersion): RemovedValue[] {
  return VALUE_RULES.filter((r) => r.component === component && r.flags.includes(flag)).flatMap((r) =>
    r
      .removedIn(value.replace(/^["']|["']$/g, ''))
      .filter((v) => minorAtLeast(version, v.removedIn))
      .map((v) => ({ ...v, instead: r.instead })),
  );
}

/** A flag that does nothing without another one: a unit with the first alone only looks configured. */
export interface FlagCompanion {
  component: KubeComponent;
  flag: string;
  needs: string;
  why: string;
}

export const FLAG_COMPANIONS: readonly FlagCompanion[] = [
  // kube-apiserver's audit backends write what the policy selects, and no policy selects nothing.
  ...['--audit-log-path', '--audit-webhook-config-file'].map((flag) => ({
    component: 'kube-apiserver' as const,
    flag,
    needs: '--audit-policy-file',
    why: 'without an audit policy the API server records no events',
  })),
];

/** The companions `flags` (one command line of `component`) lacks. */
export function missingCompanions(component: KubeComponent, flags: ReadonlySet<string>): FlagCompanion[] {
  return FLAG_COMPANIONS.filter((c) => c.component === component && flags.has(c.flag) && !flags.has(c.needs));
}

export function isKubeComponent(name: string): name is KubeComponent {
  return (KUBE_COMPONENTS as readonly string[]).includes(name);
}

export interface SettingProblem {
  message: string;
  hint: string;
}

/** The tutorials' plain-HTTP mode needs the apiserver's insecure port; say so where it is gone. */
export function insecureModeProblem(version: KubeVersion): SettingProblem | undefined {
  const gone = removedFlag('kube-apiserver', '--insecure-port', version);
  if (!gone) return undefined;
  return {
    message: `insecure mode needs kube-apiserver's insecure port (--insecure-port), which Kubernetes removed in v${gone.removedIn}; ${version.tag} rejects it`,
    hint: 'use SECURITY_MODE=tls (the default): kubestrap creates the CA and every certificate itself',
  };
}

/** Settings whose allowed values depend on the Kubernetes version. */
const VERSIONED_SETTINGS: Record<string, Record<string, { since: string; why: string }>> = {
  KUBE_PROXY_MODE: {
    nftables: { since: '1.31', why: "kube-proxy's nftables mode is enabled by default from Kubernetes 1.31" },
  },
};

/** Settings still accepted but deprecated upstream: a warning, not a refusal. */
const DEPRECATED_SETTINGS: Record<string, Record<string, { since: string; why: string; instead: string }>> = {
  KUBE_PROXY_MODE: {
    ipvs: { since: '1.35', why: "kube-proxy's ipvs mode is deprecated since Kubernetes 1.35 and will be removed", instead: 'use nftables (GA since 1.33) on current kernels, or iptables' },
  },
};

export function settingWarning(key: string, value: string, version: KubeVersion): SettingProblem | undefined {
  const rule = DEPRECATED_SETTINGS[key]?.[value];
  if (!rule || !minorAtLeast(version, rule.since)) return undefined;
  return { message: `${key}=${value}: ${rule.why}`, hint: rule.instead };
}

export function settingProblem(key: string, value: string, version: KubeVersion): SettingProblem | undefined {
  const rule = VERSIONED_SETTINGS[key]?.[value];
  if (!rule || minorAtLeast(version, rule.since)) return undefined;
  return {
    message: `${key}=${value} is not available in Kubernetes ${version.tag}: ${rule.why}`,
    hint: `use KUBE_VERSION v${rule.since}.0 or later, or another ${key}`,
  };
}
