import nunjucks from 'nunjucks';
import { TemplateError } from '../errors.js';
import { didYouMean } from '../config/suggest.js';
import { NUNJUCKS_GLOBALS, NUNJUCKS_OPTIONS } from './nunjucks-env.js';
import { TemplateScan, type UndefinedUse } from './undefined-variables.js';

export interface TemplateSource {
  /** Shown in errors: the template's path as the user knows it. */
  file: string;
  body: string;
  /** Lines before `body` in the file (a header line), added to reported line numbers. */
  lineOffset: number;
}

/**
 * A template compiled once and rendered for many hosts. Compiling is most of a render's cost, and a
 * cluster renders every template once per host.
 */
export class CompiledTemplate {
  private compiled: nunjucks.Template | undefined;
  private scan: TemplateScan | undefined;
  /**
   * Undefined uses by the set of names a context defines: every host of a cluster usually defines
   * the same names, and walking the template for each of 1000 hosts was a fifth of their render.
   */
  private readonly undefinedByNames = new Map<string, UndefinedUse[]>();

  constructor(
    private readonly env: nunjucks.Environment,
    readonly source: TemplateSource,
  ) {}

  /**
   * Renders for one host, or explains every reason it cannot: syntax errors and each undefined
   * variable with its line, before a single byte is produced.
   */
  render(context: Record<string, unknown>): { content: string } | { problems: TemplateError[] } {
    const { source } = this;
    const defined = new Set([...Object.keys(context), ...NUNJUCKS_GLOBALS]);
    let missing: UndefinedUse[];
    try {
      missing = this.undefinedIn(defined);
    } catch (err) {
      return { problems: [nunjucksError(err, source)] };
    }
    if (missing.length) return { problems: missing.map((use) => undefinedProblem(source, use, Object.keys(context))) };
    try {
      this.compiled ??= new nunjucks.Template(source.body, this.env, source.file, true);
      return { content: this.compiled.render(context) };
    } catch (err) {
      return { problems: [nunjucksError(err, source)] };
    }
  }
  private undefinedIn(defined: ReadonlySet<string>): UndefinedUse[] {
    // In the order the context has them: the same for every host built the same way (another order only misses the cache).
    const names = [...defined].join('\n');
    let missing = this.undefinedByNames.get(names);
    if (!missing) {
      this.scan ??= new TemplateScan(this.source.body, NUNJUCKS_OPTIONS);
      missing = this.scan.undefinedIn(defined);
      this.undefinedByNames.set(names, missing);
    }
    return missing;
  }
}

function undefinedProblem(source: TemplateSource, use: UndefinedUse, candidates: string[]): TemplateError {
  const guess = didYouMean(use.name, candidates);
  return new TemplateError(
    source.file,
    use.line + source.lineOffset,
    use.name,
    `is not defined (column ${use.column})`,
    guess
      ? `did you mean ${guess}? Otherwise define ${use.name} in config.properties or in the host's properties`
      : `define ${use.name} in config.properties or in the host's properties, or test it with "is defined"`,
  );
}

/**
 * nunjucks puts the 1-based position on the error (`lineno`) and, once the template has seen it,
 * also in the message as "(file) [Line N, Column M]\n  message"; keep the position, drop the noise.
 */
function nunjucksError(err: unknown, source: TemplateSource): TemplateError {
  const text = err instanceof Error ? err.message : String(err);
  const lineno = (err as { lineno?: unknown }).lineno;
  const position = typeof lineno === 'number' ? lineno : Number(/\[Line (\d+)/.exec(text)?.[1] ?? NaN);
  const detail = text.startsWith('(') ? text.split('\n').slice(1).join(' ').trim() : text;
  const line = Number.isNaN(position) ? undefined : position + source.lineOffset;
  const message = detail.replace(/^Error: /, '').replace('attempted to output null or undefined value', 'a value here is undefined');
  return new TemplateError(source.file, line, undefined, message, 'fix the template at that line');
}
