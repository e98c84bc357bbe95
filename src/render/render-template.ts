import nunjucks from 'nunjucks';
import { TemplateError } from '../errors.js';
import { didYouMean } from '../config/suggest.js';
import { NUNJUCKS_GLOBALS, NUNJUCKS_OPTIONS } from './nunjucks-env.js';
import { findUndefinedVariables } from './undefined-variables.js';

export interface TemplateSource {
  /** Shown in errors: the template's path as the user knows it. */
  file: string;
  body: string;
  /** Lines before `body` in the file (a header line), added to reported line numbers. */
  lineOffset: number;
}

/**
 * Renders one template, or explains every reason it cannot: syntax errors and each undefined
 * variable with its line, before a single byte is produced.
 */
export function renderTemplate(
  env: nunjucks.Environment,
  source: TemplateSource,
  context: Record<string, unknown>,
): { content: string } | { problems: TemplateError[] } {
  const defined = new Set([...Object.keys(context), ...NUNJUCKS_GLOBALS]);
  let missing;
  try {
    missing = findUndefinedVariables(source.body, defined, NUNJUCKS_OPTIONS);
  } catch (err) {
    return { problems: [nunjucksError(err, source)] };
  }
  if (missing.length) {
    const candidates = Object.keys(context);
    return {
      problems: missing.map((use) => {
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
      }),
    };
  }
  try {
    return { content: new nunjucks.Template(source.body, env, source.file, true).render(context) };
  } catch (err) {
    return { problems: [nunjucksError(err, source)] };
  }
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
