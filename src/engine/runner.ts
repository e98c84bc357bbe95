import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { HostError, KubestrapError, SshError } from '../errors.js';
import { detectOs, type DetectedOs } from '../os/detect.js';
import { phaseOfFile } from '../phases/file-ownership.js';
import type { Phase, PhaseName } from '../phases/phase.js';
import type { RenderedHost } from '../render/render-cluster.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import type { SshTarget } from '../ssh/target.js';
import { applyChanges } from './apply.js';
import type { Change } from './change.js';
import { fetchCurrentContents } from './current-content.js';
import { FACTS_SCRIPT, parseFacts, type HostFacts } from './facts.js';
import { planRestarts, type RestartPlan } from './handlers.js';
import type { KindContext } from './kinds/kind.js';
import { mapLimit } from './limit.js';
import { diffResources, parseProbe, probeScript, type ProbeResult } from './probe.js';
import type { HostReport, HostStatus, PhaseHostReport, RunReport } from './report.js';
import { resourceId, type Resource } from './resource.js';

export type RunMode = 'plan' | 'apply';
export type StageName = PhaseName | 'connect';

/** Progress for whoever shows it (listr2 rows, plain lines); the engine itself prints nothing. */
export interface RunObserver {
  /** A stage begins with these hosts (possibly none: every stage is announced). */
  stageStarted?(stage: StageName, hosts: string[]): void;
  started?(stage: StageName, host: string): void;
  finished?(stage: StageName, host: string, status: HostStatus, report?: PhaseHostReport): void;
  stageFinished?(stage: StageName): void;
}

export interface RunOptions {
  spec: ClusterSpec;
  rendered: readonly RenderedHost[];
  phases: readonly Phase[];
  mode: RunMode;
  connect(target: SshTarget): Promise<RemoteHost>;
  concurrency: number;
  observer?: RunObserver;
  log?: (event: Record<string, unknown>) => void;
}

/** One reachable host for the whole run. */
interface Session {
  host: HostSpec;
  remote: RemoteHost;
  facts: HostFacts;
  os: DetectedOs;
  resources: Map<PhaseName, Resource[]>;
  /** Probes taken before anything changed; valid while the host is not `dirty`. */
  probes: Map<PhaseName, ProbeResult>;
  dirty: boolean;
  failed: boolean;
}

/**
 * A run: connect to every host and read its facts, probe the state of every resource of every
 * phase in one command per host, then phase by phase (hosts in parallel) diff and, in apply mode,
 * change what differs. A host whose earlier phase changed something is probed again; a host that
 * failed sits out the remaining phases, and the other hosts carry on.
 */
export async function runPhases(opts: RunOptions): Promise<RunReport> {
  const started = Date.now();
  const hostReports = new Map<string, HostReport>(opts.spec.hosts.map((h) => [h.name, { host: h.name, address: h.address, status: 'ok' as HostStatus }]));
  const { observer } = opts;
  observer?.stageStarted?.('connect', opts.spec.hosts.map((h) => h.name));
  const sessions = (await mapLimit(opts.spec.hosts, opts.concurrency, (host) => openSession(opts, host, hostReports))).filter(
    (s): s is Session => s !== undefined,
  );
  observer?.stageFinished?.('connect');

  const results: PhaseHostReport[] = [];
  for (const phase of opts.phases) {
    const participants = sessions.filter((s) => !s.failed && phase.appliesTo(s.host));
    observer?.stageStarted?.(phase.name, participants.map((s) => s.host.name));
    results.push(...(await mapLimit(participants, opts.concurrency, (s) => runHostPhase(opts, phase, s))));
    observer?.stageFinished?.(phase.name);
  }

  for (const r of results) {
    const report = hostReports.get(r.host)!;
    report.status = worse(report.status, r.status);
    if (r.error && !report.error) report.error = r.error;
  }
  for (const s of sessions) hostReports.get(s.host.name)!.stats = { ...s.remote.stats };
  return {
    mode: opts.mode,
    phases: opts.phases.map((p) => p.name),
    hosts: [...hostReports.values()],
    results,
    durationMs: Date.now() - started,
  };
}

const SEVERITY: HostStatus[] = ['skipped', 'ok', 'changed', 'failed', 'unreachable'];

function worse(a: HostStatus, b: HostStatus): HostStatus {
  return SEVERITY.indexOf(a) >= SEVERITY.indexOf(b) ? a : b;
}

async function openSession(opts: RunOptions, host: HostSpec, reports: Map<string, HostReport>): Promise<Session | undefined> {
  const began = Date.now();
  opts.observer?.started?.('connect', host.name);
  try {
    const remote = await opts.connect(host.ssh);
    const facts = parseFacts((await remote.run(FACTS_SCRIPT)).stdout);
    const os = detectOs(host.name, facts);
    checkNodeAddress(host, facts);
    const session: Session = { host, remote, facts, os, resources: new Map(), probes: new Map(), dirty: false, failed: false };
    const files = opts.rendered.find((r) => r.host.name === host.name)?.files ?? [];
    for (const phase of opts.phases.filter((p) => p.appliesTo(host))) {
      const phaseFiles = files.filter((f) => phaseOfFile(f.path) === phase.name);
      session.resources.set(phase.name, checkUnique(host.name, phase.resources({ spec: opts.spec, host, facts, os, files: phaseFiles })));
    }
    await probeAll(session);
    opts.log?.({ event: 'facts', host: host.name, os: facts.os.prettyName, kernel: facts.kernel, durationMs: Date.now() - began });
    opts.observer?.finished?.('connect', host.name, 'ok');
    return session;
  } catch (err) {
    const error = err instanceof KubestrapError ? err : new HostError(host.name, String((err as Error)?.message ?? err));
    const status: HostStatus = err instanceof SshError && err.stage === 'connect' ? 'unreachable' : 'failed';
    reports.set(host.name, { host: host.name, address: host.address, status, error });
    opts.log?.({ event: 'connect-failed', host: host.name, status, error: error.format() });
    opts.observer?.finished?.('connect', host.name, status);
    return undefined;
  }
}

/** The address the cluster will use must be one the host has, or nothing will talk to it. */
function checkNodeAddress(host: HostSpec, facts: HostFacts): void {
  if (facts.addresses.includes(host.nodeIp)) return;
  throw new HostError(
    host.name,
    `the cluster address ${host.nodeIp} is not on this host (it has ${facts.addresses.filter((a) => !a.startsWith('127.')).join(', ') || 'no IPv4 address'})`,
    {},
    'set the host\'s internalAddress in the inventory to one of its own addresses',
  );
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

/** One command for the state of every phase's resources: a no-op run needs no other probe. */
async function probeAll(session: Session): Promise<void> {
  const phases = [...session.resources.keys()];
  const all = phases.flatMap((p) => session.resources.get(p)!);
  const probe = await runProbe(session, all);
  for (const phase of phases) session.probes.set(phase, probe);
}

async function runProbe(session: Session, resources: readonly Resource[]): Promise<ProbeResult> {
  const ctx: KindContext = { adapter: session.os.adapter };
  const result = await session.remote.run(probeScript(resources, ctx));
  return parseProbe(result.stdout, resources);
}

async function runHostPhase(opts: RunOptions, phase: Phase, s: Session): Promise<PhaseHostReport> {
  const began = Date.now();
  opts.observer?.started?.(phase.name, s.host.name);
  const report: PhaseHostReport = {
    phase: phase.name,
    host: s.host.name,
    status: 'ok',
    changes: [],
    restarts: [],
    notApplied: [],
    currentContent: new Map(),
    durationMs: 0,
  };
  try {
    const resources = s.resources.get(phase.name) ?? [];
    const probe = s.dirty ? await runProbe(s, resources) : s.probes.get(phase.name)!;
    const changes = diffResources(resources, probe, { adapter: s.os.adapter });
    const restarts = planRestarts(resources, changes, probe.pendingRestarts);
    const work = changes.length + restarts.restarts.length + restarts.settled.length;
    if (opts.mode === 'plan') {
      report.changes = changes;
      report.restarts = restarts.restarts;
      report.currentContent = await fetchCurrentContents(s.remote, changes);
      report.status = work ? 'changed' : 'ok';
    } else if (work) {
      await applyHostPhase(s, changes, restarts, report);
    }
  } catch (err) {
    report.status = 'failed';
    report.error = err instanceof KubestrapError ? err : new HostError(s.host.name, String((err as Error)?.message ?? err));
  }
  report.durationMs = Date.now() - began;
  if (report.status === 'failed') s.failed = true;
  opts.log?.({
    event: 'phase',
    phase: phase.name,
    host: s.host.name,
    mode: opts.mode,
    status: report.status,
    changes: report.changes.map((c) => c.summary),
    restarts: report.restarts.map((r) => r.service),
    ...(report.error ? { error: report.error.format() } : {}),
    durationMs: report.durationMs,
  });
  opts.observer?.finished?.(phase.name, s.host.name, report.status, report);
  return report;
}

async function applyHostPhase(s: Session, changes: Change[], plan: RestartPlan, report: PhaseHostReport): Promise<void> {
  const outcome = await applyChanges(s.remote, changes, plan);
  report.changes = outcome.applied;
  report.restarts = plan.restarts.filter((r) => outcome.restarted.includes(r.service));
  report.notApplied = changes.filter((c) => !outcome.applied.includes(c));
  s.dirty = true;
  if (outcome.failure) {
    report.status = 'failed';
    report.error = outcome.failure;
  } else {
    report.status = 'changed';
  }
}
