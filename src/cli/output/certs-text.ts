import { z } from 'zod';
import type { KubestrapError } from '../../errors.js';
import type { CertCheck } from '../../pki/check.js';
import type { TextFilter } from '../../printable.js';
import { formatTable } from '../io.js';
import { jsonReport } from './json.js';

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

const certCheckSchema = z.object({
  where: z.string().meta({ description: 'local, or the host' }),
  name: z.string().meta({ description: 'the PKI item: ca, apiserver, kubelet/node1, user/alice, ...' }),
  path: z.string(),
  subject: z.string().optional(),
  issuer: z.string().optional(),
  dnsNames: z.array(z.string()),
  ipAddresses: z.array(z.string()),
  notAfter: z.string().optional().meta({ description: 'ISO 8601' }),
  daysLeft: z.number().int().optional(),
  matchesLocal: z.boolean().optional().meta({ description: "hosts only: the host's file is the one the local PKI makes for it" }),
  problems: z.array(z.string()).meta({ description: 'why this certificate fails the check; empty when it passes' }),
});

/** `certs check`: every certificate, local and on each host; ok when none has a problem. */
export const certsReportSchema = z.object({
  ok: z.boolean(),
  days: z.number().int().meta({ description: 'the --days threshold' }),
  local: z.array(certCheckSchema),
  hosts: z.array(z.object({ host: z.string(), error: z.string().nullable().meta({ description: 'why the host could not be read' }), files: z.array(certCheckSchema) })),
});

/** `certs renew`: the certificates re-issued in the local PKI (the next apply rolls them out). */
export const certsRenewReportSchema = z.object({
  ok: z.literal(true).meta({ description: 'a refused renewal prints an error instead of a report' }),
  storeDir: z.string().meta({ description: "the local PKI's folder" }),
  renewed: z.array(z.string()).meta({ description: 'the certificates re-issued, as certs check names them' }),
});

/** `certs check` for machines; every string passes `filter`, as in the text. */
export function certsJson(report: CertsReport, filter: TextFilter): string {
  const { local, hosts, days, ok } = report;
  return jsonReport(certsReportSchema, { ok, days, local, hosts: hosts.map((h) => ({ host: h.host, error: h.error?.format() ?? null, files: h.rows })) }, filter);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
