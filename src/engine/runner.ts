import { HostError, type KubestrapError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import { applyChanges, restartOne } from './apply.js';
import type { Change } from './change.js';
import { actionResource, carryOut, type AssignedAction } from './cluster-actions.js';
import { fetchCurrentContents } from './current-content.js';
import { factQueries, factSnippets, type HostFacts } from './facts.js';
import { planRestarts, type LaterServices, type Restart, type RestartPlan } from './handlers.js';
import type { KindContext, PackageTool } from './kinds/kind.js';
import type { ClusterAction, ClusterContext, ClusterHost, HostChannel, Phase, PhaseContext, RunMode } from './phase.js';
import { diffResources, parseProbe, probeScript, type ProbeResult } from './probe.js';
import type { HostReport, HostStatus, PhaseHostReport, RunReport, StageTime } from './report.js';
import { markEmptiedFolders, withInstalled } from './installed.js';
import { inBatches, runAroundStep, stepChange, stepHost, type HostBatches } from './host-batches.js';
import { channelOf } from './host-channel.js';
import { hostsToRead, type LimitReads } from './limited-reads.js';
import { resourceId, type Resource } from './resource.js';
import { rollingOrder, serviceOrder } from './rolling-order.js';
import { asKubestrapError, type ClusterSession, type HostWithFacts } from './session.js';
import type { TargetHost } from './target.js';

export type { RunMode } from './phase.js';
export type StageName = string;

/** Progress for whoever shows it (listr2 rows, plain lines); the engine itself prints nothing. */
export interface RunObserver {
  /** A stage begins with these hosts (possibly none: every stage is announced). */
  stageStarted?(stage: StageName, hosts: string[]): void;
  started?(stage: StageName, host: string): void;
  finished?(stage: StageName, host: string, status: HostStatus, report?: PhaseHostReport): void;
  stageFinished?(stage: StageName): void;
}

/** What the caller makes of a host once its facts are read. */
export interface HostDescription<D> {
  /** For reports: the release and its package manager, `Rocky Linux 9.6 (dnf)`. */
  system: string;
  packages: PackageTool;
  /** Passed to the phases with the host (its OS, the files rendered for it, ...). */
  detail: D;
}

export interface RunOptions<S, H extends TargetHost, D> {
  /** The hosts, reached once for the whole run. */
  session: ClusterSession<H>;
  /** The caller's description of the cluster, passed to phases as it is. */
  spec: S;
  /**
   * What a host is, from its facts: its package manager, and what the phases need of it (the
   * files rendered for it: templates may depend on what the host is). A throw fails that host alone.
   */
  describe(host: H, facts: HostFacts): HostDescription<D>;
  phases: ReadonlyArray<Phase<string, S, H, D>>;
  mode: RunMode;
  /**
   * Only these hosts get per-host changes (`--limit`). Of the others, only those the phases and the
   * command's preflight say they need (`limitReads`) are read, and may run cluster actions; the
   * rest are not contacted (reported `skipped`).
   */
  limit?: readonly string[];
  /** A check of the command's own across all hosts, run with the phases' preflights (e.g. `init`: no cluster there yet). */
  preflight?: (ctx: ClusterContext<S, H, D>) => KubestrapError[];
  /** The hosts `preflight` needs in a limited run, as a phase's `limitReads`; absent with a preflight: every host. */
  limitReads?: LimitReads<H>;
  observer?: RunObserver;
  log?: (event: Record<string, unknown>) => void;
}

/** One reachable host for the whole run. */
interface HostRun<H extends TargetHost, D> {
  host: H;
  remote: RemoteHost;
  facts: HostFacts;
  packages: PackageTool;
  detail: D;
  resources: Map<string, Resource[]>;
  /** Probes taken before anything changed; valid while the host is not `dirty`. */
  probes: Map<string, ProbeResult>;
  dirty: boolean;
  failed: boolean;
  /** Why the first probe failed; the host fails in its first phase with it. */
  probeError?: KubestrapError;
}

type Opts = RunOptions<unknown, TargetHost, unknown>;
type Run = HostRun<TargetHost, unknown>;
type AnyPhase = Phase<string, unknown, TargetHost, unknown>;

/**
 * A run: connect to every host and read its facts (one command each), let phases prepare locally
 * what their resources need (downloads), work out every phase's resources, run every phase's
 * preflight over all hosts (any problem: nothing changes anywhere), let each phase keep locally
 * what it made for an apply (beforeChanges), probe the state of every resource of every phase in
 * one command per host, then phase by phase:
 * cluster actions due before, every host's changes in parallel, rolling restarts one host at a time,
 * cluster actions due after. A host whose earlier phase changed something is probed again; a host
 * that failed sits out the remaining phases, and the other hosts carry on.
 */
export async function runPhases<S, H extends TargetHost, D>(options: RunOptions<S, H, D>): Promise<RunReport> {
  // Inside, the caller's types only pass through: the engine reads names and addresses alone.
  const opts = options as unknown as Opts;
  const started = Date.now();
  // Wall-clock time per stage (hosts work in parallel within one): what the closing line reports.
  const stages: StageTime[] = [];
  const hostReports = new Map<string, HostReport>(opts.session.hosts.map((h) => [h.name, { host: h.name, address: h.address, status: 'ok' as HostStatus }]));
  const report = (results: PhaseHostReport[], refused: KubestrapError[] = []): RunReport => {
    for (const r of results) {
      const host = hostReports.get(r.host)!;
      host.status = worse(host.status, r.status);
      if (r.error && !host.error) host.error = r.error;
    }
    for (const s of sessions) hostReports.get(s.host.name)!.stats = { ...s.remote.stats };
    return { mode: opts.mode, phases: opts.phases.map((p) => p.name), hosts: [...hostReports.values()], results, refused, stages, durationMs: Date.now() - started };
  };

  const { observer } = opts;
  const reading = readHosts(opts);
  for (const h of opts.session.hosts) if (!reading.includes(h)) hostReports.get(h.name)!.status = 'skipped';
  observer?.stageStarted?.(
    'connect',
    reading.map((h) => h.name),
  );
  const reachable = await openHosts(opts, hostReports, reading);

  const known: ClusterContext<unknown, TargetHost, unknown> = { spec: opts.spec, mode: opts.mode, hosts: reachable.map(clusterHost), phases: opts.phases.map((p) => p.name) };
  const prepared = (await Promise.all(opts.phases.map((p) => p.prepare?.(scoped(known, p)) ?? []))).flat();
  const sessions = prepared.length ? reachable : reachable.filter((s) => workOutResources(opts, s, hostReports));
  const cluster: ClusterContext<unknown, TargetHost, unknown> = { ...known, hosts: sessions.map(clusterHost) };
  const refused = [...prepared, ...(opts.preflight?.(cluster) ?? []), ...opts.phases.flatMap((p) => p.preflight?.(scoped(cluster, p)) ?? [])];
  if (refused.length) {
    for (const s of sessions) opts.observer?.finished?.('connect', s.host.name, 'skipped');
    observer?.stageFinished?.('connect');
    opts.log?.({ event: 'preflight-refused', problems: refused.map((e) => e.format()) });
    stages.push({ name: 'connect', durationMs: Date.now() - started });
    return report([], refused);
  }
  if (opts.mode === 'apply') for (const p of opts.phases) await p.beforeChanges?.(scoped(cluster, p));
  const actions = assignActions(opts.phases, cluster, sessions);
  for (const s of sessions) if (opts.limit && !opts.limit.includes(s.host.name)) s.resources.clear();
  const answered = sessions.map((s) => s.host.name);
  await opts.session.each(sessions, (s) => probeAll(opts, s, actions, answered));
  observer?.stageFinished?.('connect');
  stages.push({ name: 'connect', durationMs: Date.now() - started });

  const results: PhaseHostReport[] = [];
  const run: RunState = { changedAnything: false, batches: phaseBatches(opts.phases, cluster), owed: new Map() };
  for (const [index, phase] of opts.phases.entries()) {
    const began = Date.now();
    results.push(...(await runPhase(opts, phase, laterServices(opts.phases.slice(index + 1), sessions, run.batches), sessions, actions.get(phase.name) ?? [], run)));
    stages.push({ name: phase.name, durationMs: Date.now() - began });
  }
  return report(results);
}

interface RunState {
  /** Something changed on some host: cluster actions re-check instead of trusting the first probe. */
  changedAnything: boolean;
  /** The phases that change hosts a batch at a time, with their steps around each host. */
  batches: ReadonlyMap<string, HostBatches<TargetHost>>;
  /**
   * Restarts an earlier phase left to a later one, by host, with their reasons: the later phase
   * owes them in a plan too (nothing was recorded on the host), and says why in either mode.
   */
  owed: Map<string, Map<string, string[]>>;
}

function phaseBatches(phases: readonly AnyPhase[], cluster: ClusterContext<unknown, TargetHost, unknown>): Map<string, HostBatches<TargetHost>> {
  return new Map(
    phases.flatMap((p) => {
      const batches = p.batches?.(cluster);
      return batches ? [[p.name, batches] as const] : [];
    }),
  );
}

const SEVERITY: HostStatus[] = ['skipped', 'ok', 'changed', 'failed', 'unreachable'];

function worse(a: HostStatus, b: HostStatus): HostStatus {
  return SEVERITY.indexOf(a) >= SEVERITY.indexOf(b) ? a : b;
}

/** The hosts the run reads: all, or with a limit the limited ones and those the phases and the command's preflight need. */
function readHosts(opts: Opts): TargetHost[] {
  // A phase chooses among the hosts it does not ignore.
  const needs = opts.phases.map((p): LimitReads<TargetHost> | undefined => {
    const { limitReads, ignores } = p;
    return limitReads && ((limited, hosts) => limitReads.call(p, limited, ignores ? hosts.filter((h) => !ignores.call(p, h)) : hosts));
  });
  return hostsToRead(opts.session.hosts, opts.limit, [...needs, opts.preflight ? opts.limitReads : () => []]);
}

/**
 * Every host to read reached and read (the session's fact command with every phase's snippets),
 * then described by the caller; a host that does not answer, or that the caller refuses, is out of
 * the run from the start.
 */
async function openHosts(opts: Opts, reports: Map<string, HostReport>, reading: readonly TargetHost[]): Promise<Run[]> {
  const factsOf = (host: TargetHost) => opts.phases.flatMap((p) => (typeof p.facts === 'function' ? p.facts(host) : (p.facts ?? [])));
  const snippets = (host: TargetHost) => factSnippets(host, factsOf(host));
  // A host that answered is done connecting once the caller has described it.
  const reached = await opts.session.readFacts(
    snippets,
    {
      started: (host) => opts.observer?.started?.('connect', host),
      finished: (host, status) => status !== 'ok' && opts.observer?.finished?.('connect', host, status),
    },
    undefined,
    reading,
    (host) => factQueries(host, factsOf(host), opts.spec),
  );
  for (const lost of reached.lost) reportLost(reports, lost.host, lost.status, lost.error);
  return reached.open.flatMap((h) => {
    const run = describeHost(opts, h, reports);
    opts.observer?.finished?.('connect', h.host.name, run ? 'ok' : 'failed');
    return run ? [run] : [];
  });
}

function describeHost(opts: Opts, h: HostWithFacts<TargetHost>, reports: Map<string, HostReport>): Run | undefined {
  try {
    const { system, packages, detail } = opts.describe(h.host, h.facts);
    reports.get(h.host.name)!.system = system;
    return { host: h.host, remote: h.remote, facts: h.facts, packages, detail, resources: new Map(), probes: new Map(), dirty: false, failed: false };
  } catch (err) {
    const error = asKubestrapError(h.host.name, err);
    reportLost(reports, h.host, 'failed', error, h.remote);
    opts.log?.({ event: 'host-refused', host: h.host.name, error: error.format() });
    return undefined;
  }
}

function reportLost(reports: Map<string, HostReport>, host: TargetHost, status: 'unreachable' | 'failed', error: KubestrapError, remote?: RemoteHost): void {
  reports.set(host.name, { ...reports.get(host.name)!, host: host.name, address: host.address, status, error, ...(remote ? { stats: { ...remote.stats } } : {}) });
}

/** The cluster as a phase sees it: without the hosts it ignores. */
function scoped(cluster: ClusterContext<unknown, TargetHost, unknown>, phase: AnyPhase): ClusterContext<unknown, TargetHost, unknown> {
  const { ignores } = phase;
  return ignores ? { ...cluster, hosts: cluster.hosts.filter((h) => !ignores.call(phase, h.host)) } : cluster;
}

function clusterHost(s: Run): ClusterHost<TargetHost, unknown> {
  return { host: s.host, facts: s.facts, ...(s.detail as object) };
}

/** Every phase's resources for a host; a host whose resources cannot be worked out fails here, alone. */
function workOutResources(opts: Opts, s: Run, reports: Map<string, HostReport>): boolean {
  try {
    for (const [phase, resources] of hostResources(opts.phases, opts.spec, s.host, s.facts, s.detail)) s.resources.set(phase, resources);
    return true;
  } catch (err) {
    const error = asKubestrapError(s.host.name, err);
    reports.set(s.host.name, { host: s.host.name, address: s.host.address, status: 'failed', error, stats: { ...s.remote.stats } });
    opts.log?.({ event: 'resources-failed', host: s.host.name, error: error.format() });
    opts.observer?.finished?.('connect', s.host.name, 'failed');
    return false;
  }
}

/**
 * Every involved phase's resources for a host with these facts, by phase name, records of what each
 * installed included: what the probe reads and the diff compares. Pure (no host is contacted); a throw
 * means the host's resources cannot be worked out.
 */
export function hostResources<S, H extends TargetHost, D>(phases: ReadonlyArray<Phase<string, S, H, D>>, spec: S, host: H, facts: HostFacts, detail: D): Map<string, Resource[]> {
  const ctx = { spec, host, facts, ...(detail as object) } as PhaseContext<S, H, D>;
  // A phase that no longer applies to the host (a role it lost) still removes what it installed there.
  const involved = phases.filter((p) => !p.ignores?.(host) && (p.appliesTo(host) || facts.record.has(p.name)));
  const wanted = new Map(involved.map((p) => [p, p.appliesTo(host) ? p.resources(ctx) : []] as const));
  // What another phase of the run wants now (a file that moved from one phase to another) is not removed.
  const wantedByAny = new Set([...wanted.values()].flat().map(resourceId));
  const out = new Map<string, Resource[]>();
  for (const phase of involved) {
    const fields = phase.appliesTo(host) ? (phase.record?.(ctx) ?? {}) : {};
    out.set(phase.name, checkUnique(host.name, withInstalled(phase.name, wanted.get(phase)!, facts.record.get(phase.name), fields, wantedByAny)));
  }
  markEmptiedFolders(involved.map((p) => out.get(p.name) ?? []));
  return out;
}

function checkUnique(host: string, resources: Resource[]): Resource[] {
  const seen = new Set<string>();
  for (const r of resources) {
    const id = resourceId(r);
    if (seen.has(id)) throw new HostError(host, `two resources manage ${id}`, {}, 'a phase must describe each thing once');
    seen.add(id);
  }
  return resources;
}

/** Each phase's cluster actions, each on the first of its candidates that answered. */
function assignActions(phases: readonly AnyPhase[], cluster: ClusterContext<unknown, TargetHost, unknown>, sessions: readonly Run[]): Map<string, Array<AssignedAction<TargetHost>>> {
  const byPhase = new Map<string, Array<AssignedAction<TargetHost>>>();
  for (const phase of phases) {
    const assigned = (phase.clusterActions?.(scoped(cluster, phase)) ?? []).map((action) => ({ action, host: firstCandidate(action.candidates, sessions) }));
    byPhase.set(phase.name, assigned);
  }
  return byPhase;
}

function firstCandidate(candidates: readonly string[], sessions: readonly Run[], usable: (s: Run) => boolean = () => true): string | undefined {
  return candidates.find((name) => sessions.some((s) => s.host.name === name && usable(s)));
}

/**
 * One command for the state of every phase's resources and of the cluster checks this host runs: a
 * no-op run needs no other probe. Checks the controller makes itself (a cluster action's `query`)
 * go over the host's forwarded channels alongside that command and start nothing on the host.
 */
async function probeAll(opts: Opts, session: Run, actions: Map<string, Array<AssignedAction<TargetHost>>>, live: readonly string[]): Promise<void> {
  const mine = [...actions.values()].flat().filter((a) => a.host === session.host.name);
  const scripted = mine.filter((a) => !a.action.query).map((a) => actionResource(a.action, session.host, live));
  const queried = mine.filter((a) => a.action.query);
  const all = [...[...session.resources.values()].flat(), ...scripted];
  try {
    // Nothing to read on the host: each phase finds it as it wants it.
    const [probe, answers] = await Promise.all([
      all.length ? runProbe(session, all) : { observed: new Map<string, string>(), pendingRestarts: [] },
      Promise.all(queried.map(async (a) => [resourceId(actionResource(a.action, session.host, live)), await queryAction(opts, session, a.action, live)] as const)),
    ]);
    for (const [id, observed] of answers) probe.observed.set(id, observed);
    for (const phase of opts.phases) session.probes.set(phase.name, probe);
  } catch (err) {
    // Reported by the first phase, which finds no probe: the host fails there, alone.
    session.probeError = asKubestrapError(session.host.name, err);
    opts.log?.({ event: 'probe-failed', host: session.host.name, error: session.probeError.format() });
  }
}

async function runProbe(session: Run, resources: readonly Resource[]): Promise<ProbeResult> {
  const ctx: KindContext = { packages: session.packages };
  const result = await session.remote.run(probeScript(resources, ctx));
  return parseProbe(result.stdout, resources);
}

/** A cluster action's state: its query on the controller, else its check on the host. */
async function probeAction(opts: Opts, s: Run, action: ClusterAction<TargetHost>, resource: Resource, live: readonly string[]): Promise<ProbeResult> {
  if (!action.query) return runProbe(s, [resource]);
  return { observed: new Map([[resourceId(resource), await queryAction(opts, s, action, live)]]), pendingRestarts: [] };
}

/** A query's answer as the action's command resource reads a check's exit status: `0` nothing to do. */
async function queryAction(opts: Opts, s: Run, action: ClusterAction<TargetHost>, live: readonly string[]): Promise<string> {
  try {
    return (await action.query!(hostChannel(s), s.host, live)) ? '0' : '1';
  } catch (err) {
    opts.log?.({ event: 'query-failed', action: action.name, host: s.host.name, error: asKubestrapError(s.host.name, err).format() });
    return '1';
  }
}

function hostChannel(s: Run): HostChannel {
  return channelOf(s.host.name, s.remote);
}

/**
 * Services that phases after this one restart on each host, so this phase leaves their restarts to
 * them: those a later phase runs, and those a later batched phase feeds on a host it would take out
 * of service, which it restarts in that window (a host that does not serve yet has nothing to take
 * out: whoever runs the service restarts it, as without batches).
 */
function laterServices(later: readonly AnyPhase[], sessions: readonly Run[], batches: RunState['batches']): Map<string, LaterServices> {
  const byHost = new Map<string, LaterServices>();
  for (const s of sessions) {
    const services = new Map<string, { phase: string; window?: boolean }>();
    for (const phase of [...later].reverse()) {
      const window = batches.get(phase.name)?.serving(s.host, s.facts) === true;
      for (const r of s.resources.get(phase.name) ?? []) {
        if (r.kind !== 'service') continue;
        if (r.running === true) services.set(r.name, { phase: phase.name });
        else if (window && r.running === undefined) services.set(r.name, { phase: phase.name, window: true });
      }
    }
    byHost.set(s.host.name, services);
  }
  return byHost;
}

/** One phase on every host it concerns: actions before, hosts in parallel, rolling restarts, actions after. */
async function runPhase(
  opts: Opts,
  phase: AnyPhase,
  later: Map<string, LaterServices>,
  sessions: readonly Run[],
  actions: ReadonlyArray<AssignedAction<TargetHost>>,
  run: RunState,
): Promise<PhaseHostReport[]> {
  const participants = sessions.filter((s) => !s.failed && s.resources.has(phase.name));
  const actionHosts = actions.map((a) => a.host).filter((h): h is string => h !== undefined && !participants.some((s) => s.host.name === h));
  const reports = new Map<string, PhaseHostReport>();
  const reportOf = (host: string) => {
    let r = reports.get(host);
    if (!r) reports.set(host, (r = emptyReport(phase.name, host)));
    return r;
  };
  opts.observer?.stageStarted?.(phase.name, [...participants.map((s) => s.host.name), ...new Set(actionHosts)]);
  for (const s of participants) opts.observer?.started?.(phase.name, s.host.name);

  await runActions(
    opts,
    actions.filter((a) => a.action.when === 'before'),
    sessions,
    reportOf,
    run,
  );
  const rolling = new Map<Run, Restart[]>();
  const hostPhase = async (s: Run, around?: Around) => {
    const plan = await runHostPhase(opts, phase, s, later.get(s.host.name) ?? new Map(), reportOf(s.host.name), run, around);
    if (plan?.rolling.length) rolling.set(s, plan.rolling);
  };
  const batches = run.batches.get(phase.name);
  const live = participants.filter((s) => !s.failed);
  // Hosts not in service yet (new ones) have nothing to take out: they go all at once, first.
  const serving = batches ? live.filter((s) => batches.serving(s.host, s.facts)) : [];
  await opts.session.each(
    live.filter((s) => !serving.includes(s)),
    (s) => hostPhase(s),
  );
  if (batches && serving.length) await runInBatches(batches, serving, sessions, hostPhase);
  await runRollingRestarts(opts, phase, participants, rolling, reportOf, run);
  await runActions(
    opts,
    actions.filter((a) => a.action.when === 'after'),
    sessions,
    reportOf,
    run,
  );

  for (const r of reports.values()) {
    const s = sessions.find((x) => x.host.name === r.host)!;
    if (r.status === 'failed') s.failed = true;
    logPhase(opts, r);
    opts.observer?.finished?.(phase.name, r.host, r.status, r);
  }
  opts.observer?.stageFinished?.(phase.name);
  return [...reports.values()];
}

/** A host that fails sits out the rest of the phase (its cluster actions move to another candidate) and the phases after. */
function fail(s: Run, report: PhaseHostReport, error: KubestrapError): void {
  report.status = 'failed';
  report.error ??= error;
  s.failed = true;
}

function emptyReport(phase: string, host: string): PhaseHostReport {
  return { phase, host, status: 'ok', changes: [], restarts: [], notApplied: [], currentContent: new Map(), durationMs: 0 };
}

/** What a batched phase does around one host's changes: take it out of service before, put it back after (host-batches.ts). */
interface Around {
  before(report: PhaseHostReport, mode: RunMode): Promise<KubestrapError | undefined>;
  after(report: PhaseHostReport, mode: RunMode): Promise<KubestrapError | undefined>;
}

/**
 * A batched phase: its hosts `size` at a time, in inventory order, each changed host taken out of
 * service before its changes and put back after. The first host that fails stops the hosts of
 * later batches (they are not taken out: the cluster keeps what capacity it has); the next run
 * continues with them.
 */
async function runInBatches(batches: HostBatches<TargetHost>, participants: readonly Run[], sessions: readonly Run[], hostPhase: (s: Run, around: Around) => Promise<void>): Promise<void> {
  const around = (s: Run): Around => {
    const step = (which: 'before' | 'after') => async (report: PhaseHostReport, mode: RunMode) => {
      const change = stepChange(batches[which], s.host, stepHost(batches.candidates, sessions)?.host.name);
      const error = mode === 'apply' ? await runAroundStep(batches[which], s.host, batches.candidates, sessions) : undefined;
      if (!error) report.changes.push(change);
      else report.notApplied.push(change);
      return error;
    };
    return { before: step('before'), after: step('after') };
  };
  for (const batch of inBatches(participants, batches.size)) {
    const stopper = participants.find((p) => p.failed);
    await Promise.all(batch.filter((s) => !s.failed).map((s) => hostPhase(s, stopper ? refused(s, stopper) : around(s))));
  }
}

/**
 * After a host failed, a later host whose changes would take it out of service is refused before
 * any of them; one whose changes disrupt nothing (or that has none) carries on as usual.
 */
function refused(s: Run, stopper: Run): Around {
  const error = new HostError(
    s.host.name,
    `not changed: ${stopper.host.name} failed first, and hosts are taken out of service only while the others serve`,
    {},
    `fix ${stopper.host.name} (its error above), then run apply again: it continues with this host`,
  );
  return { before: async (_report, mode) => (mode === 'apply' ? error : undefined), after: async () => undefined };
}

/** The per-host part of a phase; returns the rolling restarts this host owes (done later, one host at a time). */
async function runHostPhase(opts: Opts, phase: AnyPhase, s: Run, later: LaterServices, report: PhaseHostReport, run: RunState, around?: Around): Promise<{ rolling: Restart[] } | undefined> {
  const began = Date.now();
  try {
    const resources = s.resources.get(phase.name) ?? [];
    const probe = s.dirty ? await runProbe(s, resources) : s.probes.get(phase.name);
    if (!probe) throw s.probeError ?? new HostError(s.host.name, "the host's state could not be read");
    const changes = diffResources(resources, probe, { packages: s.packages });
    const restarts = planRestarts(resources, changes, probe.pendingRestarts, later, run.owed.get(s.host.name));
    carryOwed(run, s.host.name, restarts);
    const rolling = restarts.restarts.filter((r) => r.rolling);
    const work = changes.length + restarts.restarts.length + restarts.deferred.length + restarts.settled.length;
    // Only what stops or restarts a service takes the host out of service; a file alone does not.
    const disrupts = restarts.restarts.length > 0 || changes.some((c) => c.startsOrStops !== undefined);
    if (opts.mode === 'plan') {
      if (around && disrupts) await around.before(report, 'plan');
      report.changes.push(...changes);
      if (around && disrupts) await around.after(report, 'plan');
      report.restarts.push(...restarts.restarts, ...restarts.deferred);
      report.currentContent = await fetchCurrentContents(s.remote, changes);
      if (report.changes.length + report.restarts.length) report.status = 'changed';
      return undefined;
    }
    const uploads = changes.flatMap((c) => c.steps.flatMap((step) => (step.type === 'upload' ? [step.upload] : [])));
    if (uploads.length) await phase.beforeUpload?.(uploads);
    const outOfService = around && disrupts ? await around.before(report, 'apply') : undefined;
    if (outOfService) throw outOfService;
    if (work) await applyHostPhase(s, changes, restarts, report, run);
    if (report.status === 'failed') return undefined;
    const back = around && disrupts ? await around.after(report, 'apply') : undefined;
    if (back) throw back;
    return { rolling };
  } catch (err) {
    fail(s, report, asKubestrapError(s.host.name, err));
    return undefined;
  } finally {
    report.durationMs += Date.now() - began;
  }
}

/** What this phase restarts (or settles) is no longer owed; what it leaves to a later phase is, with its reasons. */
function carryOwed(run: RunState, host: string, plan: RestartPlan): void {
  let owed = run.owed.get(host);
  if (!owed) run.owed.set(host, (owed = new Map()));
  for (const r of plan.restarts) owed.delete(r.service);
  for (const service of plan.settled) owed.delete(service);
  for (const r of plan.deferred) owed.set(r.service, r.because);
}

async function applyHostPhase(s: Run, changes: Change[], plan: RestartPlan, report: PhaseHostReport, run: RunState): Promise<void> {
  const outcome = await applyChanges(s.remote, changes, plan);
  report.changes.push(...outcome.applied);
  report.restarts.push(...plan.restarts.filter((r) => outcome.restarted.includes(r.service)));
  report.notApplied.push(...changes.filter((c) => !outcome.applied.includes(c)));
  s.dirty = true;
  run.changedAnything = true;
  if (outcome.failure) {
    fail(s, report, outcome.failure);
  } else if (outcome.applied.length + outcome.restarted.length) {
    report.status = 'changed';
  }
}

/**
 * Rolling restarts, service by service in the phase's order: every host's restart of the first
 * service, one host at a time in inventory order, then every host's restart of the next (all API
 * servers before any controller-manager, as upstream's skew policy wants). Each restart is waited
 * on (its readiness check) before the next. The first failure stops the roll: the restarts not
 * done, on that host and the others, keep their recorded debt for the next run.
 */
async function runRollingRestarts(opts: Opts, phase: AnyPhase, participants: readonly Run[], owed: Map<Run, Restart[]>, reportOf: (host: string) => PhaseHostReport, run: RunState): Promise<void> {
  const roll = rollingOrder(participants.map((s) => ({ host: s, restarts: owed.get(s) ?? [], services: serviceOrder(s.resources.get(phase.name) ?? []) })));
  for (const [at, { host: s, restart: r }] of roll.entries()) {
    const report = reportOf(s.host.name);
    const began = Date.now();
    const error = await restartOne(s.remote, r);
    report.durationMs += Date.now() - began;
    s.dirty = true;
    run.changedAnything = true;
    if (error) {
      fail(s, report, error);
      const waiting = roll.slice(at + 1).map((x) => `${x.host.host.name} ${x.restart.service}`);
      opts.log?.({ event: 'rolling-stopped', phase: phase.name, host: s.host.name, service: r.service, notRestarted: waiting });
      return;
    }
    report.restarts.push(r);
    report.status = 'changed';
  }
}

/** Cluster actions of one kind (before or after), in order, each on its host. */
async function runActions(opts: Opts, actions: ReadonlyArray<AssignedAction<TargetHost>>, sessions: readonly Run[], reportOf: (host: string) => PhaseHostReport, run: RunState): Promise<void> {
  for (const assigned of actions) {
    // The assigned host may have failed since the probe: the next candidate that is still fine takes over.
    const name = assigned.host && !sessions.find((s) => s.host.name === assigned.host)!.failed ? assigned.host : firstCandidate(assigned.action.candidates, sessions, (s) => !s.failed);
    const s = sessions.find((x) => x.host.name === name);
    if (!s) {
      // Every candidate failed or is unreachable: their own failures fail the run; the next run does it.
      opts.log?.({ event: 'action-skipped', action: assigned.action.name, candidates: assigned.action.candidates });
      continue;
    }
    const report = reportOf(s.host.name);
    const began = Date.now();
    try {
      const resource = actionResource(
        assigned.action,
        s.host,
        sessions.filter((x) => !x.failed).map((x) => x.host.name),
      );
      const fresh = run.changedAnything || name !== assigned.host;
      const live = sessions.filter((x) => !x.failed).map((x) => x.host.name);
      const probe = (fresh ? undefined : s.probes.get(report.phase)) ?? (await probeAction(opts, s, assigned.action, resource, live));
      const change = diffResources([resource], probe, { packages: s.packages })[0];
      if (!change) continue;
      if (opts.mode === 'plan') {
        report.changes.push(change);
        report.status = 'changed';
        continue;
      }
      const failure = await carryOut(assigned.action, change, { host: s.host, remote: s.remote, channel: hostChannel(s), live });
      run.changedAnything = true;
      if (failure) {
        fail(s, report, failure);
        report.notApplied.push(change);
        return;
      }
      report.changes.push(change);
      report.status = 'changed';
    } catch (err) {
      fail(s, report, asKubestrapError(s.host.name, err));
      return;
    } finally {
      report.durationMs += Date.now() - began;
    }
  }
}

function logPhase(opts: Opts, report: PhaseHostReport): void {
  opts.log?.({
    event: 'phase',
    phase: report.phase,
    host: report.host,
    mode: opts.mode,
    status: report.status,
    changes: report.changes.map((c) => c.summary),
    restarts: report.restarts.map((r) => r.service),
    ...(report.error ? { error: report.error.format() } : {}),
    durationMs: report.durationMs,
  });
}
