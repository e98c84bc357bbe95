import type { HealthRow } from '../checks.js';
import { POD_CHECKS, ROW_MARK } from './script.js';

/**
 * The pod check's output read into health rows: one per row line of the script, and for a node
 * the output says nothing about (the command failed or was cut short), a failed start row that
 * says so.
 */
export function podCheckRows(output: string, nodes: readonly string[], failure?: string): HealthRow[] {
  const rows: HealthRow[] = [];
  for (const line of output.split('\n')) {
    const fields = line.split('\t');
    if (fields[0] !== ROW_MARK || fields.length < 5) continue;
    const [, check, host, status, ...detail] = fields;
    rows.push({ check: check!, host: host!, ok: status === 'ok', detail: detail.join('\t').trim() || (status === 'ok' ? 'ok' : 'failed') });
  }
  const told = new Set(rows.map((r) => r.host));
  const why = failure?.trim().split('\n').filter(Boolean).at(-1) ?? 'the check said nothing about this node';
  for (const node of nodes) if (!told.has(node)) rows.push({ check: POD_CHECKS.start, host: node, ok: false, detail: `pod check on a master: ${why}` });
  return rows;
}
