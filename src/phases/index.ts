import type { HostSpec } from '../config/cluster-spec.js';
import { checkOneLine } from '../config/validators.js';
import { HostError } from '../errors.js';
import type { HostFacts } from '../engine/facts.js';
import type { RunArtifacts } from '../artifacts/provider.js';
import type { PreparedPki } from '../pki/reconcile.js';
import { addonsPhase } from './addons.js';
import { apiLbPhase } from './api-lb.js';
import { ARTIFACTS_PHASE_TITLE, artifactsPhase, type ArtifactsPhaseOptions } from './artifacts.js';
import { controlPlanePhase } from './control-plane.js';
import { etcdPhase } from './etcd.js';
import { networkPhase } from './network.js';
import { osPhase } from './os-prep.js';
import { PHASE_ORDER, type Phase, type PhaseName } from './phase.js';
import { PKI_PHASE_TITLE, pkiPhase } from './pki.js';
import { createRuntimePhase, runtimePhase } from './runtime.js';
import { verifyPhase } from './verify.js';
import { createWorkersPhase, workersPhase } from './workers.js';

/** What some phases need from the command before the run: the PKI prepared locally, where artifacts come from. */
export interface PhaseInputs {
  pki?: { prepared: PreparedPki; storeDir: string };
  /** Where this run's artifacts come from (bundle, own builds, cache). */
  artifacts?: RunArtifacts;
  install?: ArtifactsPhaseOptions;
  /** Nodes drained at once when their agents restart (`--max-unavailable`, default 1). */
  maxUnavailable?: number;
}

/** A phase kubestrap can run; `build` makes it once the command has what it needs (`needsPki`). */
export interface PhaseEntry {
  name: PhaseName;
  title: string;
  needsPki: boolean;
  /** The phase's fact-derived template variables (Phase.hostValues), known before it is built. */
  hostValues?: Phase['hostValues'];
  build(inputs: PhaseInputs): Phase;
}

/** A phase that needs nothing from the command is its own entry. */
function ready(phase: Phase): PhaseEntry {
  return { name: phase.name, title: phase.title, needsPki: false, ...(phase.hostValues ? { hostValues: phase.hostValues.bind(phase) } : {}), build: () => phase };
}

/** The phases kubestrap can run today, in run order. */
export const PHASES: readonly PhaseEntry[] = [
  ready(osPhase),
  {
    name: 'runtime',
    title: runtimePhase.title,
    needsPki: false,
    hostValues: runtimePhase.hostValues!.bind(runtimePhase),
    // The run's artifacts: where a host takes the release binaries.
    build: ({ artifacts }) => createRuntimePhase(artifacts ? { artifacts } : {}),
  },
  {
    name: 'artifacts',
    title: ARTIFACTS_PHASE_TITLE,
    needsPki: false,
    build: ({ artifacts, install }) => artifactsPhase(artifacts, install),
  },
  {
    name: 'pki',
    title: PKI_PHASE_TITLE,
    needsPki: true,
    build: ({ pki }) => {
      if (!pki) throw new Error('the pki phase is built without the prepared PKI');
      return pkiPhase(pki.prepared, pki.storeDir);
    },
  },
  ready(etcdPhase),
  ready(controlPlanePhase),
  ready(apiLbPhase),
  {
    name: 'workers',
    title: workersPhase.title,
    needsPki: false,
    hostValues: workersPhase.hostValues!.bind(workersPhase),
    build: ({ maxUnavailable }) => createWorkersPhase(maxUnavailable),
  },
  ready(networkPhase),
  ready(addonsPhase),
  ready(verifyPhase),
];

export function selectPhases(names: readonly string[] | undefined): PhaseEntry[] {
  if (!names || names.length === 0) return [...PHASES];
  return PHASES.filter((p) => names.includes(p.name));
}

/**
 * Every phase's fact-derived template variables for a host (all phases: any template may use them).
 * They come from what a host says about itself, so they obey the rule every property value obeys:
 * one line, or a carriage return in a host's output would start a new directive in a unit file.
 */
export function hostValues(host: HostSpec, facts: HostFacts | undefined, phases: ReadonlyArray<Pick<Phase, 'hostValues'>> = PHASES): Record<string, string> {
  const values = Object.assign({}, ...phases.map((p) => p.hostValues?.(host, facts) ?? {})) as Record<string, string>;
  for (const [key, value] of Object.entries(values)) {
    const problem = checkOneLine(value);
    if (problem)
      throw new HostError(
        host.name,
        `${key}, derived from what the host reports, is refused: ${problem.message}`,
        {},
        'check what the host reports for it; kubestrap puts such values into unit files only as one line of text',
      );
  }
  return values;
}

export function availablePhaseNames(): PhaseName[] {
  return PHASE_ORDER.filter((n) => PHASES.some((p) => p.name === n));
}
