import { loadClusterSpec, type ClusterSpec } from '../config/cluster-spec.js';
import { InvalidInputError, type KubestrapError, type Warning } from '../errors.js';
import { BUNDLED_UNITS } from '../package-root.js';
import { hostValues } from '../phases/index.js';
import { prepareTemplates, type PreparedTemplates } from '../render/render-cluster.js';
import { clusterSources } from './options.js';

/**
 * The templates of a run, refused before connecting unless they render for every host the run may
 * change (`limit`: those named, else all) as a fresh host would be (`render` false for procedures
 * that install none, such as reset). With loadClusterSpec, this is everything plan and apply check
 * of their inputs before they connect. A host read for the others renders again with its facts,
 * and fails alone if it cannot.
 */
export function checkedTemplates(spec: ClusterSpec, templatesDir: string, render = true, limit?: readonly string[]): PreparedTemplates {
  const templates = prepareTemplates(spec, templatesDir);
  const changed = limit ? spec.hosts.filter((h) => limit.includes(h.name)) : spec.hosts;
  const problems = render ? [...templates.problems, ...changed.flatMap((h) => templates.renderHost(h, hostValues(h, undefined)).problems)] : [];
  if (problems.length) throw new InvalidInputError(problems.filter((p, i) => problems.findIndex((q) => q.format() === p.format()) === i));
  return templates;
}

/**
 * What `plan -i INVENTORY -c CONFIG` (its default options: ~/.ssh/config, kubestrap's own templates)
 * would refuse before it connects, as a list instead of an error: `bootstrap import` asks it of the
 * files it wrote.
 */
export function planInputCheck(inventoryFile: string, configFile: string): { problems: KubestrapError[]; warnings: Warning[] } {
  try {
    const spec = loadClusterSpec(clusterSources({ inventory: inventoryFile, config: configFile }));
    checkedTemplates(spec, BUNDLED_UNITS);
    return { problems: [], warnings: spec.warnings };
  } catch (err) {
    if (err instanceof InvalidInputError) return { problems: [...err.problems], warnings: [...err.warnings] };
    throw err;
  }
}
