import type { TargetHost } from './target.js';

/**
 * For a run limited to some hosts (`--limit`): the other hosts a part of the run must read to
 * change those (a master for its cluster actions, every etcd member when a member joins), out of
 * every host of the run. What a host is (its roles) decides; the engine knows no such thing itself.
 */
export type LimitReads<H extends TargetHost> = (limited: readonly H[], hosts: readonly H[]) => readonly H[];

/**
 * The hosts a run connects to and reads: every host without a limit; with one, the limited hosts
 * and those each part's `LimitReads` names. A part that declares none (undefined) may need any host,
 * so the run reads them all, as it did before parts declared what they need.
 */
export function hostsToRead<H extends TargetHost>(hosts: readonly H[], limit: readonly string[] | undefined, needs: ReadonlyArray<LimitReads<H> | undefined>): H[] {
  if (!limit || needs.some((n) => n === undefined)) return [...hosts];
  const limited = hosts.filter((h) => limit.includes(h.name));
  const read = new Set<string>([...limited, ...needs.flatMap((n) => n!(limited, hosts))].map((h) => h.name));
  return hosts.filter((h) => read.has(h.name));
}
