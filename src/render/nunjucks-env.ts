import nunjucks from 'nunjucks';
import { splitList } from '../config/validators.js';

/**
 * One nunjucks configuration for every template: no HTML escaping (these are config files), block
 * tags do not leave blank lines, and any undefined value that slips past the static check still
 * fails the render instead of printing an empty string.
 */
export const NUNJUCKS_OPTIONS: nunjucks.ConfigureOptions = {
  autoescape: false,
  throwOnUndefined: true,
  trimBlocks: true,
  lstripBlocks: true,
};

/** nunjucks' own globals, which templates may use without defining them. */
export const NUNJUCKS_GLOBALS = ['range', 'cycler', 'joiner'] as const;

export function createEnvironment(templateRoot: string): nunjucks.Environment {
  const loader = new nunjucks.FileSystemLoader(templateRoot, { noCache: true });
  const env = new nunjucks.Environment(loader, NUNJUCKS_OPTIONS);
  // Comma-separated property values (mirrors, registries, sysctls) become lists.
  env.addFilter('csv', (value: unknown) => splitList(String(value ?? '')));
  return env;
}
