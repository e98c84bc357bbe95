import { stringify } from 'yaml';
import { printable } from '../printable.js';
import type { ImportResult } from './import.js';
import type { ReportItem } from './report-schema.js';

/**
 * The two files `bootstrap import` writes, and its report. The report is the promise that nothing
 * was dropped silently: every value of the source is either in a file (with where it came from) or
 * in a line that says why not.
 */
export function inventoryYaml(result: ImportResult): string {
  return `# Written by bootstrap import from ${oneLine(result.read[0]!)} (${result.format}). Hosts, their roles and how to reach them.\n${stringify(result.inventory)}`;
}

export function propertiesText(result: ImportResult): string {
  const header = [
    `# Written by bootstrap import from ${result.read.map(oneLine).join(', ')} (${result.format}).`,
    "# Every key is documented in kubestrap's config.example.properties; keys not set here take their defaults.",
  ];
  const lines = result.properties.flatMap((p) => [`# from ${p.from.map(oneLine).join('; ')}`, `${p.key}=${p.value}`]);
  return `${[...header, ...lines].join('\n')}\n`;
}

export function importText(result: ImportResult, files: { inventory: string; config: string }): string {
  const lines = [`Imported ${result.inventory.hosts.length} hosts from ${result.read.join(', ')} (${result.format}).`, `  wrote ${files.inventory} and ${files.config}`];
  lines.push('', `Carried over (${result.properties.length} properties):`, ...result.properties.map((p) => `  ${p.key}=${p.value}  (from ${p.from.join('; ')})`));
  if (result.properties.length === 0) lines.push('  none: every key takes its default');
  section(lines, 'Taken as kubestrap does it already (no key written)', result.settled);
  section(lines, 'Carried over in another form', result.adjusted);
  section(lines, 'Not carried over', result.leftBehind);
  return `${printable(lines.join('\n'))}\n`;
}

/** Items of one place and reason together: a file's many unused settings read as one paragraph. */
function section(lines: string[], title: string, items: readonly ReportItem[]): void {
  if (items.length === 0) return;
  lines.push('', `${title} (${items.length}):`);
  const groups = new Map<string, ReportItem[]>();
  for (const item of items) {
    const key = JSON.stringify([item.where, item.why, item.hint]);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  for (const group of groups.values()) {
    const { where, why, hint } = group[0]!;
    const named = group.map((i) => `${i.name}${i.value !== undefined ? ` = ${i.value}` : ''}`);
    if (named.length === 1) lines.push(`  ${where}: ${named[0]}: ${why}`);
    else lines.push(`  ${where}: ${why}:`, ...named.map((n) => `      ${n}`));
    if (hint) lines.push(`    fix: ${hint}`);
  }
}

/** A value in a comment of a written file stays on its line. */
function oneLine(text: string): string {
  return printable(text, { keepNewlines: false });
}
