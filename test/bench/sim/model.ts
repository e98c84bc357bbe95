import { spawnSync } from 'node:child_process';
import { loadClusterSpec, type ClusterSpec, type HostSpec } from '../../../src/config/cluster-spec.js';
import { factSnippets, factsScript, parseFacts, type HostFacts } from '../../../src/engine/facts.js';
import type { PackageTool } from '../../../src/engine/kinds/kind.js';
import type { Resource } from '../../../src/engine/resource.js';
import { hostResources } from '../../../src/engine/runner.js';
import { parseSections } from '../../../src/engine/sections.js';
import { BUNDLED_UNITS } from '../../../src/package-root.js';
import { hostDescriber } from '../../../src/phases/describe.js';
import { hostValues, selectPhases } from '../../../src/phases/index.js';
import type { KubestrapPhase } from '../../../src/phases/context.js';
import { localPkiStore } from '../../../src/pki/store.js';
import { reconcilePki } from '../../../src/pki/reconcile.js';
import { checkedTemplates } from '../../../src/cli/run-inputs.js';
import { convergedProbeSections, recordLines } from './converged.js';

/**
 * What each simulated host answers, worked out once before the controller starts (the simulator's
 * own CPU is not what the bench measures): a fresh host's facts and empty probe, or a converged
 * host's facts (its record included) and the probe output of a host that already matches what
 * the run wants, from the same phases, templates and PKI the controller uses.
 *
 * The facts that are not per host (os-release, the kernel, the phases' own snippets: tools, kernel
 * settings, listeners) are this machine's, read once by running the fact command here: it only looks.
 */
export interface SimAnswers {
  /** Fact sections by key, without `clock` (stamped per answer). */
  facts: Map<string, string>;
  /** Probe sections by key; undefined for a fresh host (every section empty). */
  probe?: Map<string, string>;
  /** What the probe answer was worked out from (a converged host): its resources and package tool. */
  desired?: { resources: Resource[]; packages: PackageTool };
}

export interface SimModelOptions {
  inventory: string;
  config: string;
  phases: string[];
  /** Hosts that have never been touched (`all`: every one); every other host is converged. */
  fresh: ReadonlySet<string> | 'all';
}

export async function simModel(opts: SimModelOptions): Promise<{ spec: ClusterSpec; answers: Map<string, SimAnswers> }> {
  const spec = loadClusterSpec({ inventoryFile: opts.inventory, configFile: opts.config });
  const entries = selectPhases(opts.phases);
  const isFresh = (host: HostSpec) => opts.fresh === 'all' || opts.fresh.has(host.name);
  const converged = spec.hosts.filter((h) => !isFresh(h));
  const pki = entries.some((e) => e.needsPki) && converged.length ? { prepared: await reconcilePki(spec, localPkiStore(spec), { now: new Date() }), storeDir: localPkiStore(spec).dir } : undefined;
  const phases: KubestrapPhase[] = entries.filter((e) => !e.needsPki || pki).map((e) => e.build(pki ? { pki } : {}));
  const here = localFacts(spec.hosts[0]!, phases);
  const templates = converged.length ? checkedTemplates(spec, BUNDLED_UNITS) : undefined;
  const describe = hostDescriber((host, facts) => templates?.renderHost(host, hostValues(host, facts)).files ?? []);
  const answers = new Map<string, SimAnswers>();
  for (const host of spec.hosts) {
    const facts = hostFactSections(here, host, '');
    if (isFresh(host)) {
      answers.set(host.name, { facts });
      continue;
    }
    // The record a converged host holds is what the run would write: worked out from the facts without it, then again with it.
    const first = flat(hostResources(phases, spec, host, parsedFacts(facts), describe(host, parsedFacts(facts)).detail));
    const recorded = hostFactSections(here, host, recordLines(first));
    const description = describe(host, parsedFacts(recorded));
    const resources = flat(hostResources(phases, spec, host, parsedFacts(recorded), description.detail));
    answers.set(host.name, { facts: recorded, probe: convergedProbeSections(resources), desired: { resources, packages: description.packages } });
  }
  return { spec, answers };
}

function flat(byPhase: Map<string, Resource[]>): Resource[] {
  return [...byPhase.values()].flat();
}

/** This machine's answer to the fact command of these phases, by section. */
function localFacts(host: HostSpec, phases: readonly KubestrapPhase[]): Map<string, string> {
  const script = factsScript(
    factSnippets(
      host,
      phases.flatMap((p) => (typeof p.facts === 'function' ? p.facts(host) : (p.facts ?? []))),
    ),
  );
  // Its status is the last snippet's (a trust anchor not found here): the output is what counts.
  return parseSections(spawnSync('sh', ['-c', script], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);
}

function hostFactSections(here: Map<string, string>, host: HostSpec, record: string): Map<string, string> {
  const sections = new Map(here);
  sections.set('hostname', host.name);
  // What PID 1 is here (a container's init, say) is not what a host kubestrap manages runs.
  sections.set('init', 'systemd');
  sections.set('addresses', `127.0.0.1/8\n${host.nodeIp}/8`);
  sections.set('record', record);
  sections.delete('clock');
  return sections;
}

/** The facts as the engine parses them from a sectioned answer. */
function parsedFacts(sections: Map<string, string>): HostFacts {
  return parseFacts(renderSections('@@kubestrap-section-0', [...sections.keys()], sections));
}

/** Sections as the host prints them: each key's marker line, then its output. */
export function renderSections(tag: string, keys: readonly string[], sections: ReadonlyMap<string, string>): string {
  return keys.map((key) => `\n${tag} ${key}\n${sections.get(key) ?? ''}\n`).join('');
}
