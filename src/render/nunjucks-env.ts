import { realpathSync } from 'node:fs';
import { sep } from 'node:path';
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

/**
 * nunjucks' own loader accepts any path that merely starts with the root's name (`../units-old/x`
 * from `units/`) and follows links: an `include` could pull a file of this machine into what every
 * host gets. This one serves only files whose real path lies inside the template tree.
 */
class TreeLoader extends nunjucks.FileSystemLoader {
  private readonly realRoot: string;

  constructor(root: string) {
    super(root, { noCache: true });
    this.realRoot = realpathSync(root);
  }

  override getSource(name: string): nunjucks.LoaderSource {
    const source = super.getSource(name);
    if (source && !realpathSync(source.path).startsWith(this.realRoot + sep)) {
      throw new Error(`"${name}" is outside the template tree`);
    }
    return source;
  }
}

export function createEnvironment(templateRoot: string): nunjucks.Environment {
  const loader = new TreeLoader(templateRoot);
  const env = new nunjucks.Environment(loader, NUNJUCKS_OPTIONS);
  // Comma-separated property values (mirrors, registries, sysctls) become lists.
  env.addFilter('csv', (value: unknown) => splitList(String(value ?? '')));
  return env;
}
