import type { HostSpec } from '../config/cluster-spec.js';
import type { HostFacts } from '../engine/facts.js';
import type { Resource } from '../engine/resource.js';
import type { GenericPackage, OsAdapter } from '../os/adapter.js';
import { HOST_TOOLS, MISSING_TOOLS_FACT, toolPackages } from '../os/host-tools.js';
import { toolProblems } from '../preflight/host-tools.js';
import { kubeProxyModeFacts, kubeProxyModeProblems, nftVersionCheck, runsKubeProxy } from '../preflight/kube-proxy-mode.js';
import type { RenderedFile } from '../render/render-cluster.js';
import { elBaseRepoProblems, elBaseRepoResources } from './el-base-repo.js';
import { fileResource } from './file-resource.js';
import { OS_SETTINGS_FACT, osOriginal } from './os-original.js';
import { filesOf, type Phase, type PhaseContext } from './phase.js';

const SYSCTL_DIR = '/etc/sysctl.d/';
const MODULES_DIR = '/etc/modules-load.d/';

/** What kube-proxy's mode needs installed besides the tools every host gets (its modules load from modules-load.d). */
const KUBE_PROXY_MODE_PACKAGES: Readonly<Record<string, readonly GenericPackage[]>> = { ipvs: ['ipset', 'ipvsadm'], nftables: ['nftables'] };

/** The tools the fact command and probes read a host with, before anything can be installed. */
const CHECKED_TOOLS = HOST_TOOLS.filter((t) => t.source === 'checked').map((t) => t.command);

/**
 * What the seeds did by hand on every machine: firewall off (it cuts etcd's ports), SELinux
 * permissive, swap off for the kubelet, bridge netfilter and overlay modules, forwarding sysctls,
 * the FORWARD policy, the hostname and /etc/hosts entries for every member. Before the rest, the
 * tools kubestrap and the components run on the host (src/os/host-tools.ts), and what kube-proxy's
 * mode needs where it runs; a host that lacks what kubestrap reads it with, or whose kernel cannot
 * run kube-proxy's mode, is refused before anything changes.
 */
export const osPhase: Phase = {
  name: 'os',
  title: 'OS preparation',
  appliesTo: () => true,
  facts: (host) => [MISSING_TOOLS_FACT, OS_SETTINGS_FACT, ...kubeProxyModeFacts(host)],
  // What the host had before the first run changed it, for `reset --restore-os`.
  record: ({ facts }) => ({ original: { ...osOriginal(facts) } }),
  preflight: (ctx) => [...toolProblems(ctx, () => CHECKED_TOOLS), ...kubeProxyModeProblems(ctx), ...elBaseRepoProblems(ctx)],
  // /etc/hosts lists every host from the inventory; its preflight looks at each host alone.
  limitReads: () => [],
  resources: (ctx: PhaseContext): Resource[] => {
    const { spec, host, facts, os, files: all } = ctx;
    const files = filesOf('os', all);
    return [
      // EL 7's own repositories at EL_BASE_REPO's mirror, before anything is installed from them.
      ...elBaseRepoResources(ctx),
      { kind: 'firewallOff', services: [...os.adapter.firewallServices] },
      ...(os.adapter.managesSelinux ? [{ kind: 'selinux', mode: 'permissive' } as const] : []),
      { kind: 'swapOff' },
      { kind: 'package', names: packagesFor(host, facts, os.adapter) },
      ...(runsKubeProxy(host) && host.values.KUBE_PROXY_MODE === 'nftables'
        ? [{ kind: 'command', name: 'nft-version', description: "check that nft is new enough for kube-proxy's nftables mode", ...nftVersionCheck() } as const]
        : []),
      { kind: 'hostsEntries', entries: spec.hosts.map((h: HostSpec) => ({ ip: h.nodeIp, names: [h.name] })) },
      ...files.map(fileResource),
      ...modulesIn(files).map((name) => ({ kind: 'kernelModule', name }) as const),
      ...sysctlsIn(files).map(([key, value]) => ({ kind: 'sysctl', key, value }) as const),
      {
        kind: 'command',
        name: 'iptables-forward-accept',
        description: 'iptables: set the FORWARD policy to ACCEPT (pod traffic crosses hosts)',
        check: "iptables -S FORWARD | grep -qx -- '-P FORWARD ACCEPT'",
        run: 'iptables -P FORWARD ACCEPT',
      },
      { kind: 'hostname', name: host.name },
    ];
  },
};

/** The tools' packages (those the host lacks), and where kube-proxy runs what its mode needs, in the host's names. */
function packagesFor(host: HostSpec, facts: HostFacts, adapter: OsAdapter): string[] {
  const mode = runsKubeProxy(host) ? (KUBE_PROXY_MODE_PACKAGES[host.values.KUBE_PROXY_MODE!] ?? []) : [];
  return [...new Set([...toolPackages(adapter, facts), ...mode.flatMap((g) => adapter.packageNames(g))])];
}

/**
 * Module names of the rendered modules-load.d files, so a template tree decides what loads. A name
 * becomes a command's operand, so one that could read as an option (a leading `-`) is not one.
 */
export function modulesIn(files: readonly RenderedFile[]): string[] {
  return confFiles(files, MODULES_DIR)
    .flatMap((f) => settingLines(f.content))
    .filter((line) => /^\w[\w-]*$/.test(line));
}

/** key = value pairs of the rendered sysctl.d files; the last file to set a key wins, as in sysctl --system. */
export function sysctlsIn(files: readonly RenderedFile[]): Array<[string, string]> {
  const settings = new Map<string, string>();
  for (const f of confFiles(files, SYSCTL_DIR)) {
    for (const line of settingLines(f.content)) {
      // A leading `-` only tells sysctl to ignore a failure; the key itself starts with a word character.
      const m = /^-?(\w[\w./-]*)\s*=\s*(.*)$/.exec(line);
      if (m) settings.set(m[1]!, m[2]!.trim());
    }
  }
  return [...settings];
}

/** The files of `dir` that systemd-sysctl, sysctl --system and systemd-modules-load read: `*.conf`, in name order. */
function confFiles(files: readonly RenderedFile[], dir: string): RenderedFile[] {
  return files.filter((f) => f.path.startsWith(dir) && /^[^/]+\.conf$/.test(f.path.slice(dir.length))).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function settingLines(content: string): string[] {
  return content
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'));
}
