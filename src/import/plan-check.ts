import { loadClusterSpec } from '../config/cluster-spec.js';
import { InvalidInputError, type KubestrapError, type Warning } from '../errors.js';
import { BUNDLED_UNITS } from '../package-root.js';
import { hostValues } from '../phases/index.js';
import { prepareTemplates } from '../render/render-cluster.js';

/**
 * What `plan` refuses before it connects, asked of the files an import wrote: both inputs loaded and
 * checked (loadClusterSpec), then kubestrap's templates rendered for every host as a fresh host
 * would be, as cli/commands/converge.ts does before it opens a connection. No host is reached.
 */
export function planInputCheck(inventoryFile: string, configFile: string): { problems: KubestrapError[]; warnings: Warning[] } {
  try {
    const spec = loadClusterSpec({ inventoryFile, configFile });
    const templates = prepareTemplates(spec, BUNDLED_UNITS);
    const problems = [...templates.problems, ...spec.hosts.flatMap((h) => templates.renderHost(h, hostValues(h, undefined)).problems)];
    return { problems: problems.filter((p, i) => problems.findIndex((q) => q.format() === p.format()) === i), warnings: spec.warnings };
  } catch (err) {
    if (err instanceof InvalidInputError) return { problems: [...err.problems], warnings: [...err.warnings] };
    throw err;
  }
}
