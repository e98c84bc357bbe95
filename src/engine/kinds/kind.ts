import type { OsAdapter } from '../../os/adapter.js';
import type { Change } from '../change.js';
import type { Resource } from '../resource.js';

export interface KindContext {
  adapter: OsAdapter;
}

/**
 * How the engine handles one kind of resource: a shell snippet that prints the current state (it
 * runs inside the host's batched probe, so it must only look), and the diff of that output against
 * the desired state, which says how to apply the difference.
 */
export interface Kind<R extends Resource> {
  probe(r: R, ctx: KindContext): string;
  /** systemd units whose state the probe reads (through unitStateProbe): the probe asks systemd once for all of them. */
  units?(r: R): readonly string[];
  /**
   * All of a host's resources of this kind probed by one snippet (a few processes for all of them,
   * not a few each); `split` cuts its output back into each one's observed text, in the format
   * `probe` prints, so `diff` does not know the difference.
   */
  batch?: {
    probe(rs: readonly R[]): string;
    split(output: string, rs: readonly R[]): string[];
  };
  diff(r: R, observed: string, id: string, ctx: KindContext): Change | undefined;
}

/** `stat -c '%a %U %G'` output: permission bits, owner, group. */
export interface Ownership {
  mode: number;
  owner: string;
  group: string;
}

export function parseOwnership(line: string | undefined): Ownership | undefined {
  const m = /^([0-7]+) (\S+) (\S+)$/.exec((line ?? '').trim());
  return m ? { mode: parseInt(m[1]!, 8), owner: m[2]!, group: m[3]! } : undefined;
}

export function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}
