import { readFileSync } from 'node:fs';
import { ConfigError, type KubestrapError } from '../errors.js';

/**
 * config.properties in gen-config.sh's format: a line starting with `#` is a comment, a blank line is
 * skipped, the key is what stands before the first `=` and the value is everything after it.
 *
 * Where gen-config.sh silently did something surprising we report it instead: a duplicate key (the
 * script kept the last one), a line without `=` (the script used the whole line as key *and* value),
 * a key with spaces (its `{{KEY }}` placeholder could never match). CRLF files work (the script kept a
 * stray `\r` at the end of every value). Values are kept byte for byte otherwise, including leading
 * spaces, quotes and backslashes, so the output stays identical to gen-config.sh's.
 */
export interface PropertyEntry {
  key: string;
  value: string;
  line: number;
}

export interface PropertiesFile {
  file: string;
  entries: ReadonlyMap<string, PropertyEntry>;
}

export interface ParsedProperties {
  properties: PropertiesFile;
  problems: ConfigError[];
}

/**
 * A key in the file. gen-config.sh took anything before the first "="; we take names that a
 * `{{KEY}}` placeholder can hold: letters, digits, `_`, and `.` and `-` inside (Java-style keys such
 * as `etcd.name`). Templates in kubestrap's own (nunjucks) mode need plain identifiers.
 */
export const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseProperties(text: string, file: string): ParsedProperties {
  const entries = new Map<string, PropertyEntry>();
  const problems: ConfigError[] = [];

  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    // Like bash's `read`: surrounding blanks do not count.
    const content = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (content === '' || content.startsWith('#')) return;

    const parsed = parseLine(content, file, line);
    if (parsed instanceof ConfigError) {
      problems.push(parsed);
      return;
    }
    const earlier = entries.get(parsed.key);
    if (earlier) {
      problems.push(new ConfigError(file, line, parsed.key, `is set twice (line ${earlier.line} and line ${line})`, `keep one of the two lines; gen-config.sh silently used the last one`));
      return;
    }
    entries.set(parsed.key, parsed);
  });

  return { properties: { file, entries }, problems };
}

function parseLine(content: string, file: string, line: number): PropertyEntry | ConfigError {
  const eq = content.indexOf('=');
  if (eq < 0) {
    return new ConfigError(file, line, undefined, `"${content}" has no "="`, 'write KEY=value, or start the line with # to make it a comment');
  }
  const key = content.slice(0, eq);
  const value = content.slice(eq + 1);
  if (KEY_PATTERN.test(key)) return { key, value, line };

  const trimmed = key.trim();
  if (trimmed !== key && KEY_PATTERN.test(trimmed)) {
    return new ConfigError(file, line, trimmed, `has blanks around "="`, `write ${trimmed}=${value.trim()} (no blanks around "=")`);
  }
  return new ConfigError(
    file,
    line,
    key === '' ? undefined : key,
    key === '' ? 'the line starts with "=": the key is missing' : `"${key}" is not a valid key`,
    'a key is letters, digits, _, . and -, starting with a letter or _ (e.g. MASTER_IP)',
  );
}

/** Splits on LF and CRLF alike and drops a UTF-8 byte-order mark (editors on Windows add both). */
function splitLines(text: string): string[] {
  const body = text.replace(/^(\uFEFF|\xEF\xBB\xBF)/, '');
  const lines = body.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The plain key → value view used by templates. */
export function propertyValues(props: PropertiesFile): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, entry] of props.entries) values[key] = entry.value;
  return values;
}

/**
 * Parses a properties file, collecting its syntax problems; undefined when it cannot be read.
 * `latin1` keeps every value as raw bytes (one code unit per byte), for byte-exact substitution in
 * files of any encoding.
 */
export function readProperties(file: string, problems: KubestrapError[], encoding: 'utf8' | 'latin1' = 'utf8'): PropertiesFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, encoding);
  } catch (err) {
    problems.push(new ConfigError(file, undefined, undefined, `cannot read the config: ${(err as Error).message}`, 'pass an existing key=value file with -c'));
    return undefined;
  }
  const parsed = parseProperties(text, file);
  problems.push(...parsed.problems);
  return parsed.properties;
}
