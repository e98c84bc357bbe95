/**
 * gen-config.sh compatibility: `{{KEY}}` is replaced by KEY's value, literally (values with `/`, `&`
 * or `\` included, which the script's sed mangled), and nothing else in the file is touched, so
 * `${#ARR[@]}`, `{%`, `{#`, JSON braces and `{{ spaced }}` pass through. Works on bytes (latin1 maps
 * each byte to one code unit), so binary files and any encoding come out byte for byte.
 */
/** `{{KEY}}` with a key as properties files hold them (see KEY_PATTERN). */
export const PLACEHOLDER = /\{\{([A-Za-z_][A-Za-z0-9_.-]*)\}\}/g;

export interface MissingPlaceholder {
  key: string;
  line: number;
}

/** `byteValues` are byte strings (read as latin1), so they land in the file exactly as written. */
export function substitutePlaceholders(content: Buffer, byteValues: Readonly<Record<string, string>>): { content: Buffer; missing: MissingPlaceholder[] } {
  const text = content.toString('latin1');
  const missing: MissingPlaceholder[] = [];
  const replaced = text.replace(PLACEHOLDER, (match, key: string, offset: number) => {
    if (Object.hasOwn(byteValues, key)) return byteValues[key]!;
    missing.push({ key, line: lineAt(text, offset) });
    return match;
  });
  return { content: Buffer.from(replaced, 'latin1'), missing };
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
