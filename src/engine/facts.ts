import { parseSections, sectionedScript } from './sections.js';

/** What a host is, read once at the start of a run in a single command. */
export interface HostFacts {
  os: { id: string; idLike: string[]; versionId: string; prettyName: string };
  /** As `uname -m` prints it: x86_64, aarch64, ... */
  machine: string;
  kernel: string;
  hostname: string;
  /** Name of PID 1: systemd on every host we support. */
  init: string;
  /** The host's IPv4 addresses, without prefix length. */
  addresses: string[];
  packageManager: 'dnf' | 'yum' | 'apt' | undefined;
}

const FACT_SNIPPETS: ReadonlyArray<readonly [string, string]> = [
  ['os-release', 'cat /etc/os-release'],
  ['machine', 'uname -m'],
  ['kernel', 'uname -r'],
  ['hostname', 'hostname'],
  ['init', 'cat /proc/1/comm'],
  // `ip` is everywhere we support; /proc/net/fib_trie would be the fallback if it were not.
  ['addresses', "ip -o -4 addr show | awk '{print $4}'"],
  ['package-manager', 'for m in dnf yum apt-get; do command -v $m >/dev/null && { echo $m; break; }; done'],
];

export const FACTS_SCRIPT = sectionedScript(FACT_SNIPPETS);

export function parseFacts(stdout: string): HostFacts {
  const s = parseSections(stdout);
  const release = parseOsRelease(s.get('os-release') ?? '');
  const manager = (s.get('package-manager') ?? '').trim();
  return {
    os: {
      id: release.ID ?? '',
      idLike: (release.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
      versionId: release.VERSION_ID ?? '',
      prettyName: release.PRETTY_NAME ?? release.ID ?? 'unknown OS',
    },
    machine: (s.get('machine') ?? '').trim(),
    kernel: (s.get('kernel') ?? '').trim(),
    hostname: (s.get('hostname') ?? '').trim(),
    init: (s.get('init') ?? '').trim(),
    addresses: (s.get('addresses') ?? '').split('\n').map((a) => a.trim().split('/')[0]!).filter(Boolean),
    packageManager: manager === 'apt-get' ? 'apt' : manager === 'dnf' || manager === 'yum' ? manager : undefined,
  };
}

/** KEY=value lines, values optionally quoted, as os-release(5) defines them. */
function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}
