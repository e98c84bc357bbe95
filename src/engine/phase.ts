import type { KubestrapError } from '../errors.js';
import type { Fact, HostFacts } from './facts.js';
import type { HostBatches } from './host-batches.js';
import type { HostChannel } from './host-channel.js';
import type { LimitReads } from './limited-reads.js';
import type { RecordFields } from './host-record.js';
import type { Resource } from './resource.js';
import type { TargetHost } from './target.js';
import type { Upload } from '../transfer/upload.js';

export type RunMode = 'plan' | 'apply';

/**
 * The engine knows nothing of clusters: a caller's spec `S`, its host type `H` and what it derives
 * for each reachable host from its facts (`D`: say, the OS and the files rendered for it) pass
 * through the engine to its phases as they are.
 */
export type PhaseContext<S, H extends TargetHost, D> = { spec: S; host: H; facts: HostFacts } & D;

/** A reachable host, as cluster-wide checks and actions see it. */
export type ClusterHost<H extends TargetHost, D> = { host: H; facts: HostFacts } & D;

/**
 * A script for the host that runs it: its own paths (a per-host BIN_PATH) may differ from another's.
 * `live` names the run's hosts that answered and have not failed so far, so an action can leave out
 * what a failed host never got to do (for its check: the hosts that answered).
 */
export type HostScript<H extends TargetHost> = string | ((host: H, live: readonly string[]) => string);

/** What cluster-wide hooks see: the spec and every host that answered, with its facts. */
export interface ClusterContext<S, H extends TargetHost, D> {
  spec: S;
  mode: RunMode;
  hosts: ReadonlyArray<ClusterHost<H, D>>;
  /**
   * The names of the phases this run applies, in run order, so a check can count on what an
   * earlier phase of the run does (a package it installs). Absent where a phase is checked on its
   * own, outside a run: every phase counts as part of it.
   */
  phases?: readonly string[];
}

export type { HostChannel } from './host-channel.js';

/** A controller-side check of a cluster action; `live` as for HostScript. */
export type ClusterQuery<H extends TargetHost> = (channel: HostChannel, host: H, live: readonly string[]) => Promise<boolean>;

/** A controller-side change of a cluster action, through the same channels as its query; a throw fails it, saying why. */
export type ClusterApply<H extends TargetHost> = (channel: HostChannel, host: H, live: readonly string[]) => Promise<void>;

/** What every cluster action has, however it looks and acts. */
interface ClusterActionBase {
  /** Stable name for reports and ids. */
  name: string;
  description: string;
  /** Host names in order of preference. */
  candidates: readonly string[];
  /** `before` the phase's per-host changes (e.g. a setting its services read at start) or `after` them. */
  when: 'before' | 'after';
  failureHint?: string;
  /** For an action that waits on purpose (longer than a command's default limit). */
  timeoutSec?: number;
}

/**
 * How an action looks: `check` runs on the chosen host and must only look (exit 0: nothing to do);
 * `query` is the same check made by the controller itself, in place of `check`, through channels the
 * chosen host's SSH connection opens to its own ports (an API it serves), so no process starts on
 * the host. A query resolves true when nothing needs doing; a throw counts as "needs doing", as a
 * failing `check` does: the run (or plan) then shows the action, and the action's own failure says why.
 */
type ClusterActionLooks<H extends TargetHost> = { check: HostScript<H>; query?: ClusterQuery<H> } | { check?: undefined; query: ClusterQuery<H> };

/**
 * How an action acts: `run` on the chosen host, or `apply` by the controller through the chosen
 * host's channels (an API request), which starts no process on the host.
 */
type ClusterActionDoes<H extends TargetHost> = { run: HostScript<H>; apply?: undefined } | { run?: undefined; apply: ClusterApply<H> };

/**
 * Work done once for the whole cluster (write a key to a store, create an object through an API),
 * on one host: the first of `candidates` that is reachable and has not failed. Like a `command`
 * resource it is desired state: it looks first, so a no-op run only pays for the look, which rides
 * along in the chosen host's probe (or is the controller's own request).
 */
export type ClusterAction<H extends TargetHost> = ClusterActionBase & ClusterActionLooks<H> & ClusterActionDoes<H>;

/**
 * A group of resources applied together on every host it concerns, then cluster-wide actions. A
 * phase says what should be true; it never talks to a host. Optional capabilities are separate
 * members, so a phase declares only what it needs.
 */
export interface Phase<Name extends string, S, H extends TargetHost, D> {
  name: Name;
  title: string;
  appliesTo(host: H): boolean;
  /**
   * Hosts the phase leaves entirely alone, though they are part of the run (a host leaving the
   * cluster, which other phases take apart): they get none of its resources, keep what it
   * recorded there, and are not in the context its prepare, preflight and cluster actions see.
   */
  ignores?(host: H): boolean;
  /**
   * Facts the phase reads (readFact), added to the one fact command. A function says which facts
   * a host needs (none where the phase does not apply).
   */
  facts?: ReadonlyArray<Fact<unknown, H>> | ((host: H) => ReadonlyArray<Fact<unknown, H>>);
  /**
   * Local work the phase's resources depend on, after every host's facts are read and before any
   * resource is worked out: e.g. download and check the binaries for the architectures the hosts
   * have. Never touches a host. Any problem stops the run with nothing changed anywhere.
   */
  prepare?(ctx: ClusterContext<S, H, D>): Promise<KubestrapError[]>;
  resources(ctx: PhaseContext<S, H, D>): Resource[];
  /**
   * What the host's record keeps of this phase besides what it installed (which the engine records
   * itself): versions and settings that later runs read (an upgrade's starting point). Plain data,
   * the same on every run that wants the same; it never touches a host.
   */
  record?(ctx: PhaseContext<S, H, D>): RecordFields;
  /**
   * Checks across all hosts, after every host's facts are read and before anything changes on any
   * host. Any problem stops the run with nothing changed.
   */
  preflight?(ctx: ClusterContext<S, H, D>): KubestrapError[];
  /**
   * In apply mode, once every preflight passed and before the first change on any host: keep
   * locally what the phase made for this run (the PKI's new keys), so nothing reaches a host that
   * is not kept on the controller first. A throw stops the run with nothing changed.
   */
  beforeChanges?(ctx: ClusterContext<S, H, D>): Promise<void>;
  /**
   * In apply mode, once a host's changes of this phase are worked out and before they are applied:
   * check locally the files its uploads will send (the artifacts phase hashes each binary that is
   * about to leave this machine). Only what is actually sent is passed, so a no-op run checks
   * nothing. A throw fails that host with nothing of the phase applied.
   */
  beforeUpload?(uploads: readonly Upload[]): Promise<void>;
  clusterActions?(ctx: ClusterContext<S, H, D>): Array<ClusterAction<H>>;
  /**
   * In a run that applies, hosts whose changes of this phase take them out of service: applied a
   * batch at a time, each changed host taken out before and put back after (host-batches.ts). In a
   * plan, the steps show among the host's changes. Absent: every host at once.
   */
  batches?(ctx: ClusterContext<S, H, D>): HostBatches<H> | undefined;
  /**
   * In a run limited to some hosts (`--limit`), the other hosts whose facts the phase needs to change
   * those: its cluster actions' candidates, the hosts its preflight compares the limited ones with.
   * Only these are connected to besides the limited hosts. Absent: every host (the run reads all).
   */
  limitReads?: LimitReads<H>;
}
