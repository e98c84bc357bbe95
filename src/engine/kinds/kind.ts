import type { Change } from '../change.js';
import type { Resource } from '../resource.js';

/**
 * What the engine needs of a host's package manager, which the caller's OS layer provides: the
 * engine itself knows no distribution.
 */
export interface PackageTool {
  /** For messages: `dnf`, `apt`, ... */
  readonly packageManager: string;
  /** Shell that prints `NAME ii` for each of `names` that is installed, nothing for the others. */
  probePackages(names: readonly string[]): string;
  /** Shell that installs `names` and fails unless each is installed afterwards. */
  installPackages(names: readonly string[]): string;
  /** The fix to suggest when installPackages fails. */
  readonly installFailureHint: string;
  /** Shell that removes `names` (their configuration too: kubestrap wrote it) and fails unless each is gone. */
  removePackages(names: readonly string[]): string;
}

export interface KindContext {
  packages: PackageTool;
}

/**
 * How the engine handles one kind of resource: a shell snippet that prints the current state (it
 * runs inside the host's batched probe, so it must only look), and the diff of that output against
 * the desired state, which says how to apply the difference. A kind probes each resource on its own
 * or all of a host's resources of the kind at once, never both.
 */
export type Kind<R extends Resource> = KindBase<R> & (ProbedOneByOne<R> | ProbedInBatch<R>);

interface KindBase<R extends Resource> {
  /** systemd units whose state the probe reads (through unitStateProbe): the probe asks systemd once for all of them. */
  units?(r: R): readonly string[];
  diff(r: R, observed: string, id: string, ctx: KindContext): Change | undefined;
}

interface ProbedOneByOne<R extends Resource> {
  probe(r: R, ctx: KindContext): string;
  batch?: undefined;
}

/**
 * All of a host's resources of this kind probed by one snippet (a few processes for all of them,
 * not a few each); `split` cuts its output back into each one's observed text, which `diff` reads.
 */
interface ProbedInBatch<R extends Resource> {
  probe?: undefined;
  batch: {
    probe(rs: readonly R[], ctx: KindContext): string;
    split(output: string, rs: readonly R[]): string[];
  };
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
