import type { ClusterSpec, HostSpec } from '../../src/config/cluster-spec.js';
import type { Phase } from '../../src/engine/phase.js';
import type { RunReport } from '../../src/engine/report.js';
import { runPhases, type RunMode } from '../../src/engine/runner.js';
import { ClusterSession } from '../../src/engine/session.js';
import type { HostFacts } from '../../src/engine/facts.js';
import type { HostDetail } from '../../src/phases/context.js';
import type { RenderedFile } from '../../src/render/render-cluster.js';
import { hostDescriber } from '../../src/phases/describe.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import type { SshTarget } from '../../src/ssh/target.js';

/** A phase of a test's own, on kubestrap's hosts (no rendered files). */
export type TestPhase = Phase<string, ClusterSpec, HostSpec, HostDetail>;

export interface EngineRunOptions {
  limit?: readonly string[];
  concurrency?: number;
  /** The files rendered for a host (none when not given). */
  filesFor?: (host: HostSpec, facts: HostFacts) => readonly RenderedFile[];
}

/** The engine's converge on the spec's hosts (reached through `pool`), with phases of the test's own (or kubestrap's). */
export function runEngine(spec: ClusterSpec, pool: { connect(t: SshTarget): Promise<RemoteHost> }, phases: readonly TestPhase[], mode: RunMode, opts: EngineRunOptions = {}): Promise<RunReport> {
  const session = new ClusterSession(spec.hosts, { connect: (t) => pool.connect(t), concurrency: opts.concurrency ?? 4 });
  return runPhases({ session, spec, describe: hostDescriber(opts.filesFor ?? (() => [])), phases, mode, ...(opts.limit ? { limit: opts.limit } : {}) });
}
