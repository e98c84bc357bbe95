import { HostError } from '../errors.js';
import { defineFact, readFact } from '../engine/facts.js';
import type { ClusterContext, ClusterHost } from '../phases/context.js';

/** A TCP port a component needs on a host, and the systemd unit that should hold it. */
export interface PortNeed {
  port: number;
  unit: string;
  /** The property that sets the port, when one does. */
  key?: string;
}

export interface Listener {
  port: number;
  pid: number;
  command: string;
  /** The systemd service the process runs in, when it runs in one. */
  unit: string | undefined;
}

// ss's answer into a variable (read in blocks; dash's `read` takes a pipe a byte per system call),
// then shell builtins only: a master has a dozen listeners, and a few processes each made this the
// slowest fact. A line is `STATE RECV-Q SEND-Q LOCAL PEER users:(("comm",pid=N,fd=M),...)`.
const LISTENERS_SNIPPET = [
  'ks_ss=$(ss -Hltnp)',
  "ks_ifs=$IFS; IFS='",
  "'; set -f",
  'for ks_line in $ks_ss; do',
  '  IFS=$ks_ifs; set -- $ks_line',
  // The users field last: a process name may hold blanks.
  '  [ $# -ge 6 ] || continue; port=${4##*:}; shift 5; pid="$*"',
  '  case $pid in *pid=[0-9]*) ;; *) continue ;; esac',
  '  pid=${pid#*pid=}; pid=${pid%%[!0-9]*}',
  '  read -r comm < /proc/$pid/comm || continue',
  '  unit=-',
  '  while read -r line; do',
  '    case $line in *.service*) x=${line%.service*}; unit=${x##*/}.service; break ;; esac',
  '  done < /proc/$pid/cgroup',
  '  printf "%s %s %s %s\\n" "$port" "$pid" "$comm" "$unit"',
  'done',
  'set +f; IFS=$ks_ifs',
].join('\n');

/** Every listening TCP socket with its process and systemd unit. */
export const LISTENERS_FACT = defineFact('tcp-listeners', LISTENERS_SNIPPET, (out) => parseListeners(out ?? ''));

export function parseListeners(text: string): Listener[] {
  return text.split('\n').flatMap((line) => {
    const m = /^(\d+) (\d+) (\S+) (\S+)$/.exec(line.trim());
    return m ? [{ port: Number(m[1]), pid: Number(m[2]), command: m[3]!, unit: m[4] === '-' ? undefined : m[4] }] : [];
  });
}

/**
 * Ports a host needs that another program holds: the component would crash-loop on "address
 * already in use". A port held by the unit that needs it is an earlier run's, and fine.
 */
export function portProblems(ctx: ClusterContext, needsOf: (h: ClusterHost) => PortNeed[]): HostError[] {
  return ctx.hosts.flatMap((h) => {
    const listeners = readFact(h.facts, LISTENERS_FACT);
    return needsOf(h).flatMap((need) => {
      const holder = listeners.find((l) => l.port === need.port && l.unit !== need.unit);
      if (!holder) return [];
      const how = need.key ? `, or choose another port with ${need.key}` : '';
      return [
        new HostError(
          h.host.name,
          `port ${need.port}, which ${need.unit.replace(/\.service$/, '')} needs, is held by ${holder.command} (pid ${holder.pid}${holder.unit ? `, ${holder.unit}` : ''})`,
          {},
          `stop and disable ${holder.unit ?? `that process`} on ${h.host.name}${how}`,
        ),
      ];
    });
  });
}
