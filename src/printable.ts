/**
 * Text from a host or an input file is shown in a terminal, a JSON report and the debug log. Raw,
 * such text could move the cursor, rewrite earlier lines, change the terminal's title or reorder what
 * is read (escape sequences, carriage returns, C1 controls, bidirectional overrides), and it could
 * carry a password. Everything kubestrap shows goes through `printable` (and `redactor` where
 * secrets are known), so one rule applies everywhere.
 */

/**
 * C0 controls but tab and newline, DEL, C1 controls, the bidirectional marks, embeddings, overrides
 * and isolates, and the invisible characters that make two different names look the same (zero
 * widths, word joiners, the byte order mark) or end a line where a terminal shows none (line and
 * paragraph separators).
 */
const UNPRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const UNPRINTABLE_OR_NEWLINE = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Any control character (tab and newline included): what a single-line value may not hold. */
export const CONTROL_CHARACTER = /[\x00-\x1f\x7f-\x9f]/;

/** Makes text safe to show: each control character becomes a visible escape such as `\x1b`. */
export function printable(text: string, opts: { keepNewlines?: boolean } = {}): string {
  const pattern = opts.keepNewlines === false ? UNPRINTABLE_OR_NEWLINE : UNPRINTABLE;
  return text.replace(pattern, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** What a control character is called in a message: `\x0d` (carriage return). */
export function describeControl(value: string): string | undefined {
  const c = CONTROL_CHARACTER.exec(value)?.[0];
  if (c === undefined) return undefined;
  const names: Record<string, string> = { '\t': 'tab', '\n': 'newline', '\r': 'carriage return', '\x1b': 'escape' };
  return `${printable(c, { keepNewlines: false })}${names[c] ? ` (${names[c]})` : ''}`;
}

export type TextFilter = (text: string) => string;

export const REDACTED = '********';

/** Replaces every occurrence of each secret (longest first, so one cannot uncover part of another). */
export function redactor(secrets: readonly string[]): TextFilter {
  const list = [...new Set(secrets.filter((s) => s !== ''))].sort((a, b) => b.length - a.length);
  return (text) => list.reduce((out, secret) => out.split(secret).join(REDACTED), text);
}

/** For everything shown: secrets redacted from the raw text first, then control characters escaped. */
export function displayFilter(secrets: readonly string[]): TextFilter {
  const redact = redactor(secrets);
  return (text) => printable(redact(text));
}

/** JSON.stringify that passes every string value through `filter` (control characters stay valid JSON). */
export function filteredJson(value: unknown, filter: TextFilter, indent?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? filter(v) : v), indent);
}
