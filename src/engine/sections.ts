/**
 * Many checks in one remote command: each check's output goes after a marker line, and the reply is
 * cut back into one section per check. Checks only look, and their stderr is dropped, so one
 * missing tool cannot break the others.
 */
const MARKER = '@@kubestrap-section';

export function sectionedScript(snippets: ReadonlyArray<readonly [key: string, snippet: string]>): string {
  const body = snippets.map(([key, snippet]) => `printf '\\n${MARKER} %s\\n' '${key}'\n{\n${snippet}\n} 2>/dev/null`).join('\n');
  return `exec </dev/null\n${body}\n`;
}

export function parseSections(stdout: string): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = stdout.split(`\n${MARKER} `);
  for (const part of parts.slice(1)) {
    const newline = part.indexOf('\n');
    const key = newline < 0 ? part : part.slice(0, newline);
    const body = newline < 0 ? '' : part.slice(newline + 1);
    sections.set(key, body.replace(/\n$/, ''));
  }
  return sections;
}
