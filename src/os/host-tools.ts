import { defineFact, readFact, type HostFacts } from '../engine/facts.js';
import { shJoin } from '../ssh/quote.js';
import type { GenericPackage, OsAdapter } from './adapter.js';

/**
 * Every program kubestrap's own scripts run on a host, in one place, by how it gets there:
 * - `base`: part of every supported system's smallest install (Debian's Essential packages,
 *   EL's @core): listed, never checked;
 * - `checked`: the fact command and the probes read the host with it before kubestrap can install
 *   anything: a host without it is refused before anything changes, naming its package;
 * - `installed`: where the host lacks the command, the OS phase installs its package (the OS
 *   adapter's name for it) before any later phase runs it; a command another package brought
 *   (EL 9's curl-minimal) counts;
 * - `package`: the OS phase installs the package whatever the host has, as the components need the
 *   distribution's own (iptables: iptables-nft on EL 9, with the backend the kernel uses);
 * - `optional`: used when the host has it (zstd makes uploads smaller).
 * conntrack and socat are not listed: kube-proxy needs no conntrack program from Kubernetes 1.32
 * (kubernetes/kubernetes#126847) and containerd forwards ports itself.
 */
export type ToolSource = 'base' | 'checked' | 'installed' | 'package' | 'optional';

/** A tool whose package the OS adapter names (`checked`, `installed`), or one it needs not name. */
export type HostTool =
  | { command: string; source: 'checked' | 'installed' | 'package'; package: GenericPackage; usedFor: string }
  | { command: string; source: 'base' | 'optional'; package: string; usedFor: string };

const base = (commands: readonly string[], pkg: string, usedFor: string): HostTool[] => commands.map((command) => ({ command, package: pkg, source: 'base', usedFor }));

export const HOST_TOOLS: readonly HostTool[] = [
  ...base(
    [
      'cat',
      'chmod',
      'chown',
      'cp',
      'cut',
      'date',
      'env',
      'head',
      'id',
      'install',
      'mkdir',
      'mktemp',
      'mv',
      'rm',
      'rmdir',
      'sha256sum',
      'base64',
      'sleep',
      'sort',
      'stat',
      'df',
      'tail',
      'timeout',
      'touch',
      'tr',
      'uname',
    ],
    'coreutils',
    "kubestrap's scripts: files, hashes, the record on the host",
  ),
  ...base(['find'], 'findutils', 'folders and what they hold'),
  ...base(['mount', 'mountpoint', 'swapoff'], 'util-linux', 'swap, and the disks under data folders'),
  ...base(['systemctl', 'journalctl', 'hostnamectl'], 'systemd', 'services and their journal, the host name'),
  ...base(['getent'], 'libc', 'group ids of the files it writes'),
  ...base(['getenforce', 'setenforce'], 'libselinux-utils', 'SELinux, on EL (where it is part of the base system)'),
  ...base(['sed'], 'sed', "kubestrap's scripts"),
  ...base(['grep'], 'grep', "kubestrap's scripts"),
  ...base(['awk'], 'awk', "kubestrap's scripts"),
  { command: 'ip', package: 'iproute', source: 'checked', usedFor: "the host's addresses (read before anything else)" },
  { command: 'ss', package: 'iproute', source: 'checked', usedFor: 'the ports in use (preflight)' },
  { command: 'curl', package: 'curl', source: 'installed', usedFor: "the readiness checks and `bootstrap health`, which read the components' health endpoints" },
  { command: 'tar', package: 'tar', source: 'installed', usedFor: 'unpacking the binaries kubestrap sends' },
  { command: 'gzip', package: 'gzip', source: 'installed', usedFor: 'decoding gzip-compressed uploads' },
  { command: 'iptables', package: 'iptables', source: 'package', usedFor: "the FORWARD policy; kube-proxy's and flanneld's rules" },
  { command: 'modprobe', package: 'kmod', source: 'installed', usedFor: 'loading the kernel modules of modules-load.d' },
  { command: 'sysctl', package: 'procps', source: 'installed', usedFor: 'the kernel settings of sysctl.d' },
  { command: 'cmp', package: 'diffutils', source: 'installed', usedFor: "the addons' check of what was applied" },
  { command: 'zstd', package: 'zstd', source: 'optional', usedFor: 'decoding zstd-compressed uploads (UPLOAD_COMPRESSION=auto takes it when present)' },
];

/** The tools a run looks for on each host: all but the base ones. */
const LOOKED_FOR = HOST_TOOLS.filter((t) => t.source !== 'base').map((t) => t.command);

/**
 * Which of the tools kubestrap looks for a host lacks: one `command -v` each, a shell builtin (no
 * process), in the fact command. `undefined` where the snippet did not run.
 */
export const MISSING_TOOLS_FACT = defineFact('missing-tools', `for ks_c in ${shJoin(LOOKED_FOR)}; do command -v "$ks_c" >/dev/null 2>&1 || echo "$ks_c"; done`, (out) =>
  out === undefined
    ? undefined
    : new Set(
        out
          .split('\n')
          .map((l) => l.trim())
          .filter((c) => LOOKED_FOR.includes(c)),
      ),
);

/** The commands of `commands` the host lacks (none where its tools were not read). */
export function missingTools(facts: HostFacts, commands: readonly string[]): string[] {
  const missing = readFact(facts, MISSING_TOOLS_FACT);
  return missing ? commands.filter((c) => missing.has(c)) : [];
}

export function hostTool(command: string): HostTool {
  const tool = HOST_TOOLS.find((t) => t.command === command);
  if (!tool) throw new Error(`${command} is not listed in HOST_TOOLS`);
  return tool;
}

/**
 * The packages the OS phase installs, in the adapter's names: those of the `package` tools, and of
 * the `installed` tools whose command the host lacks.
 */
export function toolPackages(adapter: OsAdapter, facts: HostFacts): string[] {
  const lacking = missingTools(
    facts,
    HOST_TOOLS.filter((t) => t.source === 'installed').map((t) => t.command),
  );
  return [...new Set(HOST_TOOLS.filter((t) => t.source === 'package' || lacking.includes(t.command)).flatMap((t) => packageNamesOf(adapter, t)))];
}

/** Whether the OS phase installs what brings `command` (it does for `installed` and `package` tools). */
export function installedByOsPhase(command: string): boolean {
  const { source } = hostTool(command);
  return source === 'installed' || source === 'package';
}

/** The adapter's packages that bring `commands`, and the command line that installs them. */
export function toolInstall(adapter: OsAdapter, commands: readonly string[]): { packages: string[]; command: string } {
  const packages = [...new Set(commands.flatMap((c) => packageNamesOf(adapter, hostTool(c))))];
  const manager = adapter.packageManager === 'apt' ? 'apt-get' : adapter.packageManager;
  return { packages, command: `${manager} install -y ${packages.join(' ')}` };
}

function packageNamesOf(adapter: OsAdapter, tool: HostTool): string[] {
  switch (tool.source) {
    case 'checked':
    case 'installed':
    case 'package':
      return adapter.packageNames(tool.package);
    default:
      return [tool.package];
  }
}
