import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { certsJson } from '../../../src/cli/output/certs-text.js';
import { etcdBackupReportSchema, etcdRestoreReportSchema } from '../../../src/cli/output/etcd-json.js';
import { healthJson } from '../../../src/cli/output/health-json.js';
import { jsonReport } from '../../../src/cli/output/json.js';
import { REPORT_SCHEMAS, reportSchemaText, SCHEMA_DIR, type ReportName } from '../../../src/cli/output/schemas.js';
import { PACKAGE_ROOT } from '../../../src/package-root.js';
import { printable } from '../../../src/printable.js';
import { metadataFor } from '../../backup/support.js';
import { expectFitsSchemaFile, schemaFile } from '../../support/report-schemas.js';

const names = Object.keys(REPORT_SCHEMAS) as ReportName[];

describe('schemas/<command>.schema.json', () => {
  it.each(names)('%s: the committed file is what its zod schema generates (else: npm run schemas)', (name) => {
    expect(readFileSync(join(PACKAGE_ROOT, SCHEMA_DIR, `${name}.schema.json`), 'utf8'), `${SCHEMA_DIR}/${name}.schema.json is stale: run npm run schemas`).toBe(reportSchemaText(name));
  });

  it('holds a file for every report and no file for a report that no longer exists', () => {
    expect(readdirSync(join(PACKAGE_ROOT, SCHEMA_DIR)).sort()).toEqual(names.map((n) => `${n}.schema.json`).sort());
  });

  it('refuses what a command does not print: a missing field, a wrong type, a field it never has', () => {
    const health = schemaFile('health');
    const row = { check: 'etcd endpoint', host: 'm1', ok: true, detail: 'healthy' };
    expect(health.safeParse({ ok: true, durationMs: 5, checks: [row] }).success).toBe(true);
    expect(health.safeParse({ ok: true, checks: [row] }).success).toBe(false);
    expect(health.safeParse({ ok: 'yes', durationMs: 5, checks: [row] }).success).toBe(false);
    expect(health.safeParse({ ok: true, durationMs: 5, checks: [row], extra: 1 }).success).toBe(false);
  });
});

describe('jsonReport', () => {
  it('prints through the schema: a report that does not fit is still printed, and said to be a bug on stderr', () => {
    const broken = { ok: true, durationMs: 1.5, checks: [] };
    const warnings: string[] = [];
    const out = jsonReport(REPORT_SCHEMAS.health, broken, printable, (line) => warnings.push(line));
    expect(JSON.parse(out)).toEqual(broken);
    expect(warnings.join('')).toMatch(/kubestrap bug: this report does not fit its documented schema.*durationMs/s);
    const fine: string[] = [];
    jsonReport(REPORT_SCHEMAS.health, { ok: true, durationMs: 2, checks: [] }, printable, (line) => fine.push(line));
    expect(fine).toEqual([]);
    // In the test suites (test/support/strict-reports.ts) it fails the test instead.
    expect(() => jsonReport(REPORT_SCHEMAS.health, broken)).toThrow(/kubestrap bug/);
  });

  it('filters every string after checking, as the text output does', () => {
    const out = healthJson(
      {
        ok: false,
        durationMs: 12,
        rows: [{ check: 'node Ready', host: 'w1', ok: false, detail: 'NotReady\u001b[31m secret' }],
        roundTrips: [{ host: 'm1', handshakes: 1, execs: 1, sftpOps: 0, channels: 4 }],
      },
      (s) => printable(s).replaceAll('secret', '***'),
    );
    expect(out).not.toContain('\u001b');
    expect(out).toContain('***');
    expectFitsSchemaFile('health', out);
  });

  it('certs check: a host that could not be read and a local certificate with a problem fit the file', () => {
    const cert = {
      where: 'local',
      name: 'apiserver',
      path: '/x/apiserver.pem',
      subject: 'CN=kube-apiserver',
      issuer: 'CN=kubernetes',
      dnsNames: ['kubernetes'],
      ipAddresses: ['10.0.0.1'],
      notAfter: '2027-01-01T00:00:00.000Z',
      daysLeft: 20,
      problems: ['expires in 20 days'],
    };
    const out = certsJson({ storeDir: '/x', local: [cert], hosts: [{ host: 'm1', address: '10.0.0.11', rows: [{ ...cert, where: 'm1', matchesLocal: true }] }], days: 30, ok: false }, printable);
    expectFitsSchemaFile('certs-check', out);
    expect(JSON.parse(out)).toMatchObject({ ok: false, days: 30, hosts: [{ host: 'm1', error: null }] });
  });

  it('etcd backup and restore reports, as etcd.ts prints them, fit their files', () => {
    const metadata = metadataFor(Buffer.from('snapshot'));
    const backup = jsonReport(etcdBackupReportSchema, { ok: true, file: '/state/backups/etcd-1.db', metadata, skipped: [{ host: 'm2', reason: 'down' }], removed: [], durationMs: 900 });
    expectFitsSchemaFile('etcd-backup', backup);
    expect(JSON.parse(backup)).toMatchObject({ metadata: { sha256: metadata.sha256 } });
    const row = { check: 'etcd endpoint', host: 'm1', ok: true, detail: 'healthy' };
    expectFitsSchemaFile('etcd-restore', jsonReport(etcdRestoreReportSchema, { ok: true, rollback: false, snapshot: '/state/backups/etcd-1.db', durationMs: 5000, health: [row] }));
    expectFitsSchemaFile('etcd-restore', jsonReport(etcdRestoreReportSchema, { ok: false, rollback: true, movedBack: ['m1'], durationMs: 5000, health: [{ ...row, ok: false }] }));
  });
});
