import type { RunMode } from '../../engine/phase.js';
import type { Issuance } from '../../pki/reconcile.js';
import { printable } from '../../printable.js';

/** Names listed per line before the rest is counted: a 100-host cluster's first run issues hundreds. */
const NAMES_SHOWN = 6;

/**
 * What a run issues, before it starts, grouped by reason: names and reasons, never material. A
 * reason can quote a certificate's names, so each line is shown escaped.
 */
export function issuanceLines(issued: readonly Issuance[], mode: RunMode): string[] {
  if (issued.length === 0) return [];
  const head = mode === 'plan' ? 'pki: apply would issue:' : 'pki: this apply issues (kept locally once the checks pass, before any host changes):';
  const what = { ca: 'CA', key: 'key pair', leaf: 'certificate' } as const;
  const groups = new Map<string, string[]>();
  for (const i of issued) {
    const key = `${i.kind}\n${i.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), i.name]);
  }
  return [
    head,
    ...[...groups].map(([key, names]) => {
      const at = key.indexOf('\n');
      const [kind, reason] = [key.slice(0, at) as Issuance['kind'], key.slice(at + 1)];
      const shown = names.slice(0, NAMES_SHOWN).join(', ');
      const more = names.length > NAMES_SHOWN ? ` and ${names.length - NAMES_SHOWN} more` : '';
      return `  + ${what[kind]}${names.length > 1 ? 's' : ''} ${shown}${more}: ${reason}`;
    }),
  ].map((line) => printable(line, { keepNewlines: false }));
}
