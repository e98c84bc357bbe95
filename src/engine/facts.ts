import { parsePhaseRecords, PHASE_RECORDS_SNIPPET, type RecordedPhase } from './host-record.js';
import { parseSections, sectionedScript } from './sections.js';
import { readLine } from './shell-read.js';
import type { TargetHost } from './target.js';
import type { HostChannel } from './host-channel.js';

/**
 * The controller's own request for a fact, through a channel of the host's SSH connection to a port
 * the host serves (an API): no process starts on the host. Resolves to the output the fact's parser
 * reads; a throw reads as a snippet that did not run (undefined).
 */
export type FactQuery = (channel: HostChannel) => Promise<string>;

/**
 * A fact a phase reads from each host: a named shell snippet that only looks (it runs inside the
 * one fact command; it may depend on the host), or the controller's own request (`query`, made
 * alongside that command), and the parser that turns its output into the value every consumer
 * reads. A host's output is parsed once, whoever asks; `undefined` when it did not run on that host.
 */
export interface Fact<T, H extends TargetHost = TargetHost, S = unknown> {
  readonly key: string;
  readonly snippet?: string | ((host: H) => string);
  /**
   * In place of a snippet; `spec` is the run's (RunOptions.spec); undefined where the host has
   * nothing to ask (no answer, as a snippet that did not run). A method: a fact of a known spec type
   * is one of any.
   */
  query?(host: H, spec: S): FactQuery | undefined;
  parse(output: string | undefined): T;
}

export function defineFact<T, H extends TargetHost = TargetHost>(key: string, snippet: string | ((host: H) => string), parse: (output: string | undefined) => T): Fact<T, H> {
  return { key, snippet, parse };
}

/** A fact the controller asks itself (FactQuery), for hosts of spec type `S`. */
export function defineQueryFact<T, H extends TargetHost, S>(key: string, query: (host: H, spec: S) => FactQuery | undefined, parse: (output: string | undefined) => T): Fact<T, H, S> {
  return { key, query, parse };
}

const parsedFacts = new WeakMap<HostFacts, Map<string, unknown>>();

/** A fact's value on a host, parsed from its output the first time it is asked for. */
export function readFact<T>(facts: HostFacts, fact: Fact<T, never, never>): T {
  let parsed = parsedFacts.get(facts);
  if (!parsed) parsedFacts.set(facts, (parsed = new Map()));
  if (!parsed.has(fact.key)) parsed.set(fact.key, fact.parse(facts.extra[fact.key]));
  return parsed.get(fact.key) as T;
}

/** The snippets of `facts` for one host, by key: what the fact command runs for them. */
export function factSnippets<H extends TargetHost>(host: H, facts: ReadonlyArray<Fact<unknown, H>>): Record<string, string> {
  return Object.fromEntries(facts.flatMap((f) => (f.snippet === undefined ? [] : [[f.key, typeof f.snippet === 'string' ? f.snippet : f.snippet(host)]])));
}

/** The controller's own requests of `facts` for one host, by key: made alongside its fact command. */
export function factQueries<H extends TargetHost, S>(host: H, facts: ReadonlyArray<Fact<unknown, H, S>>, spec: S): Record<string, FactQuery> {
  return Object.fromEntries(
    facts.flatMap((f) => {
      const query = f.query?.(host, spec);
      return query ? [[f.key, query]] : [];
    }),
  );
}

/** What a host is, read once at the start of a run in a single command. */
export interface HostFacts {
  /** From /etc/os-release; `codename` is VERSION_CODENAME (bookworm, noble), empty where the release has none (EL). */
  os: { id: string; idLike: string[]; versionId: string; codename: string; prettyName: string };
  /** As `uname -m` prints it: x86_64, aarch64, ... */
  machine: string;
  kernel: string;
  hostname: string;
  /** Name of PID 1: systemd on every host we support. */
  init: string;
  /** The host's IPv4 addresses, without prefix length. */
  addresses: string[];
  packageManager: 'dnf' | 'yum' | 'apt' | undefined;
  /**
   * The host's clock minus the controller's, in ms, measured against the middle of the fact
   * command's round trip (so it is off by at most half of it). Certificates are time-bound.
   */
  clockSkewMs: number;
  /** What kubestrap's record on the host says each phase installed (see host-record.ts). */
  record: ReadonlyMap<string, RecordedPhase>;
  /** Output of the phases' own fact snippets, by key: read them with readFact, which parses each once. */
  extra: Record<string, string>;
}

/** When the controller sent the fact command and when its answer arrived (epoch ms). */
export interface FactTiming {
  sentAt: number;
  receivedAt: number;
}

const FACT_SNIPPETS: ReadonlyArray<readonly [string, string]> = [
  ['os-release', `while IFS= read -r ks_v || [ -n "$ks_v" ]; do printf '%s\\n' "$ks_v"; done < /etc/os-release`],
  // /proc/sys/kernel/arch is uname's machine field (Linux 6.1+); older kernels start uname.
  ['machine', `${readLine('/proc/sys/kernel/arch')} || uname -m`],
  ['kernel', readLine('/proc/sys/kernel/osrelease')],
  ['hostname', readLine('/proc/sys/kernel/hostname')],
  ['init', readLine('/proc/1/comm')],
  // `ip` is everywhere we support (/proc/net/fib_trie would be the fallback if it were not); its
  // lines are cut here, not by an awk on the host.
  ['addresses', 'ip -o -4 addr show'],
  ['package-manager', 'for m in dnf yum apt-get; do command -v $m >/dev/null && { echo $m; break; }; done'],
  // bash 5 (EL's sh) has the time in a variable; dash (Debian's) needs date.
  ['clock', '[ -n "${EPOCHREALTIME:-}" ] && printf \'%s\\n\' "$EPOCHREALTIME" || date +%s%N'],
  ['record', PHASE_RECORDS_SNIPPET],
];

const CORE_KEYS = new Set(FACT_SNIPPETS.map(([key]) => key));
const EXTRA_PREFIX = 'x-';

/** The one fact command: the engine's own facts plus the phases' snippets. */
export function factsScript(extra: Readonly<Record<string, string>> = {}): string {
  return sectionedScript([...FACT_SNIPPETS, ...Object.entries(extra).map(([key, snippet]) => [`${EXTRA_PREFIX}${key}`, snippet] as const)]);
}

export const FACTS_SCRIPT = factsScript();

export function parseFacts(stdout: string, timing?: FactTiming): HostFacts {
  const s = parseSections(stdout);
  const release = parseOsRelease(s.get('os-release') ?? '');
  const manager = (s.get('package-manager') ?? '').trim();
  return {
    os: {
      id: release.ID ?? '',
      idLike: (release.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
      versionId: release.VERSION_ID ?? '',
      codename: release.VERSION_CODENAME ?? '',
      prettyName: release.PRETTY_NAME ?? release.ID ?? 'unknown OS',
    },
    machine: (s.get('machine') ?? '').trim(),
    kernel: (s.get('kernel') ?? '').trim(),
    hostname: (s.get('hostname') ?? '').trim(),
    init: (s.get('init') ?? '').trim(),
    addresses: parseAddresses(s.get('addresses') ?? ''),
    packageManager: manager === 'apt-get' ? 'apt' : manager === 'dnf' || manager === 'yum' ? manager : undefined,
    clockSkewMs: clockSkew(s.get('clock') ?? '', timing),
    record: parsePhaseRecords(s.get('record') ?? ''),
    extra: Object.fromEntries([...s].filter(([key]) => !CORE_KEYS.has(key) && key.startsWith(EXTRA_PREFIX)).map(([key, body]) => [key.slice(EXTRA_PREFIX.length), body])),
  };
}

/**
 * `ip -o -4 addr show`'s lines (`2: eth0    inet 10.0.0.11/24 brd ...`): each one's address, without
 * its prefix length. A line that is an address alone (`10.0.0.11/24`) is taken as it is.
 */
function parseAddresses(text: string): string[] {
  return text
    .split('\n')
    .map((line) => (/\sinet\s+(\S+)/.exec(line)?.[1] ?? line.trim()).split('/')[0]!)
    .filter(Boolean);
}

/** The host's clock as `date +%s%N` prints it (ns), or as bash's EPOCHREALTIME (s.µs; a comma in some locales). */
function hostClockMs(text: string): number {
  const t = text.trim();
  return /^\d+[.,]\d+$/.test(t) ? Number(t.replace(',', '.')) * 1e3 : Number(t) / 1e6;
}

function clockSkew(nanos: string, timing: FactTiming | undefined): number {
  const hostMs = hostClockMs(nanos);
  if (!timing || !Number.isFinite(hostMs) || hostMs <= 0) return 0;
  return Math.round(hostMs - (timing.sentAt + timing.receivedAt) / 2);
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
