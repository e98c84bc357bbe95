import type { KubestrapError } from '../../errors.js';
import type { CertCheck } from '../../pki/check.js';
import { filteredJson, type TextFilter } from '../../printable.js';
import { formatTable } from '../io.js';

/** One host's part of `certs check`: what it holds, or why it could not be read. */
export interface HostCerts {
  host: string;
  address: string;
  rows: CertCheck[];
  error?: KubestrapError;
}

export interface CertsReport {
  /** The local PKI's folder. */
  storeDir: string;
  local: CertCheck[];
  hosts: HostCerts[];
  days: number;
  ok: boolean;
}

/**
 * `certs check` for people: the local PKI, then each host, then the verdict. Subjects, issuers and
 * SANs are read from certificates, a host's own included, and errors quote hosts' output, so all of
 * it passes `filter` (control and bidirectional characters escaped, secrets redacted when the caller
 * knows them), and each table cell stays on its line: only the last line says how the check went.
 */
export function certsText(report: CertsReport, filter: TextFilter): string {
  const { local, hosts, days, ok } = report;
  const table = (header: string[], rows: string[][]) =>
    indent(
      formatTable(
        header,
        rows.map((r) => r.map(filter)),
      ),
    );
  const status = (r: CertCheck) => (r.problems.length ? r.problems.join('; ') : 'ok');
  const sans = (r: CertCheck) => [...r.dnsNames, ...r.ipAddresses].join(',');
  const left = (r: CertCheck) => (r.daysLeft === undefined ? '' : String(r.daysLeft));
  const out = [
    filter(`local PKI (${report.storeDir})`),
    table(
      ['NAME', 'SUBJECT', 'ISSUER', 'SANS', 'DAYS', 'STATUS'],
      local.map((r) => [r.name, r.subject ?? '', r.issuer ?? '', sans(r), left(r), status(r)]),
    ),
  ];
  for (const h of hosts) {
    out.push('', filter(`${h.host} (${h.address})`));
    if (h.error) {
      out.push(indent(filter(`unreachable: ${h.error.format()}`)));
      continue;
    }
    const rows = h.rows.map((r) => [r.path, r.name, r.subject ?? '', r.issuer ?? '', sans(r), left(r), r.matchesLocal ? 'same' : 'no', status(r)]);
    out.push(table(['FILE', 'ITEM', 'SUBJECT', 'ISSUER', 'SANS', 'DAYS', 'AS LOCAL', 'STATUS'], rows));
  }
  const failing = [...local, ...hosts.flatMap((h) => h.rows)].filter((r) => r.problems.length).length + hosts.filter((h) => h.error).length;
  out.push(
    '',
    ok
      ? `all certificates valid for more than ${days} days and in place`
      : `${failing} problem${failing === 1 ? '' : 's'}: \`bootstrap certs renew\` re-issues expiring ones, \`bootstrap apply\` puts missing or different ones right`,
  );
  return `${out.join('\n')}\n`;
}

/** `certs check` for machines; every string passes `filter`, as in the text. */
export function certsJson(report: CertsReport, filter: TextFilter): string {
  const { local, hosts, days, ok } = report;
  return `${filteredJson({ ok, days, local, hosts: hosts.map((h) => ({ host: h.host, error: h.error?.format() ?? null, files: h.rows })) }, filter, 2)}\n`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
