import { readFileSync } from 'node:fs';
import { checkPropertyValues } from '../config/config-checks.js';
import { propertyValues, readProperties } from '../config/properties.js';
import { TemplateError, type KubestrapError, type Warning } from '../errors.js';
import type { OutputFile } from './output-tree.js';
import { substitutePlaceholders } from './placeholders.js';
import { readTemplateTree } from './template-tree.js';

/**
 * The gen-config.sh drop-in: the output tree mirrors the template tree, with every `{{KEY}}`
 * replaced. Where the script would have left a placeholder unreplaced, every file:line and key is
 * reported and nothing is written.
 */
export interface CompatRender {
  files: OutputFile[];
  dirs: string[];
  problems: KubestrapError[];
  warnings: Warning[];
}

export function renderCompat(templatesDir: string, configFile: string): CompatRender {
  const problems: KubestrapError[] = [];
  const props = readProperties(configFile, problems, 'latin1');
  if (!props) return { files: [], dirs: [], problems, warnings: [] };
  const checked = checkPropertyValues(props, 'compat');
  problems.push(...checked.problems);

  const values = propertyValues(props);
  const tree = readTemplateTree(templatesDir);
  problems.push(...tree.problems);
  const files: OutputFile[] = [];
  for (const file of tree.files) {
    const result = substitutePlaceholders(readFileSync(file.source), values);
    for (const miss of result.missing) {
      problems.push(
        new TemplateError(file.rel, miss.line, miss.key, `{{${miss.key}}} has no value in ${configFile}`, `add ${miss.key}=<value> to ${configFile} (gen-config.sh would have left it unreplaced)`),
      );
    }
    files.push({ rel: file.rel, content: result.content, mode: file.mode });
  }
  return problems.length ? { files: [], dirs: [], problems, warnings: checked.warnings } : { files, dirs: tree.dirs, problems, warnings: checked.warnings };
}
