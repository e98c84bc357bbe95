import { randomBytes } from 'node:crypto';

/**
 * Many checks in one remote command: each check's output goes after a marker line, and the reply is
 * cut back into one section per check. Checks only look, and their stderr is dropped, so one
 * missing tool cannot break the others.
 */
const MARKER = '@@kubestrap-section';

/**
 * Each script marks its sections with a tag of its own (`@@kubestrap-section-<random>`): what a
 * check prints comes from the host (a file's content, a package's output), and a marker written into
 * a host's file could otherwise pass for the start of another section and make the plan lie.
 */
export function sectionedScript(snippets: ReadonlyArray<readonly [key: string, snippet: string]>): string {
  const tag = `${MARKER}-${randomBytes(8).toString('hex')}`;
  const body = snippets.map(([key, snippet]) => `printf '\\n${tag} %s\\n' '${key}'\n{\n${snippet}\n} 2>/dev/null`).join('\n');
  return `exec </dev/null\n${body}\n`;
}

/** The output cut at the script's own tag, learnt from its first marker: nothing a check prints comes before it. */
export function parseSections(stdout: string): Map<string, string> {
  const sections = new Map<string, string>();
  const tag = new RegExp(`\n(${MARKER}(?:-[0-9a-f]+)?) `).exec(stdout)?.[1];
  if (tag === undefined) return sections;
  const parts = stdout.split(`\n${tag} `);
  for (const part of parts.slice(1)) {
    const newline = part.indexOf('\n');
    const key = newline < 0 ? part : part.slice(0, newline);
    const body = newline < 0 ? '' : part.slice(newline + 1);
    sections.set(key, body.replace(/\n$/, ''));
  }
  return sections;
}
