import { InvalidInputError, type KubestrapError, type Warning } from '../errors.js';
import type { ProjectVersions } from '../upstream/index.js';
import { checkPropertyValues } from './config-checks.js';
import { projectVersions } from './project-versions.js';
import { readProperties } from './properties.js';

/** config.properties alone, checked, for commands that need no hosts (bundle create). */
export interface ClusterConfig {
  file: string;
  /** Every known key's value, defaults filled in. */
  values: Record<string, string>;
  versions: ProjectVersions;
  warnings: Warning[];
}

export function loadClusterConfig(file: string): ClusterConfig {
  const problems: KubestrapError[] = [];
  const props = readProperties(file, problems);
  if (!props) throw new InvalidInputError(problems);
  const checked = checkPropertyValues(props, 'cluster');
  if (problems.length || checked.problems.length) throw new InvalidInputError([...problems, ...checked.problems], checked.warnings);
  return { file, values: checked.values, versions: projectVersions(checked.values), warnings: checked.warnings };
}
