import { z } from 'zod';
import { kubeconfigReportSchema, tunnelReportSchema } from './access-json.js';
import { bundleReportSchema } from './bundle-json.js';
import { certsRenewReportSchema, certsReportSchema } from './certs-text.js';
import { etcdBackupReportSchema, etcdRestoreReportSchema } from './etcd-json.js';
import { healthReportSchema } from './health-json.js';
import { importReportSchema } from '../../import/report-schema.js';
import { renderReportSchema } from './render-json.js';
import { runReportSchema } from './report-json.js';

/**
 * The `--output json` report of every command, by the file name of its JSON Schema in `schemas/`
 * (`schemas/<name>.schema.json`). The zod schema is the source: commands print through
 * `jsonReport(schema, ...)`, `npm run schemas` writes the files, and a unit test fails when a file
 * is not what its schema generates. A new command adds one line here.
 */
export const REPORT_SCHEMAS = {
  plan: runReportSchema,
  apply: runReportSchema,
  init: runReportSchema,
  reset: runReportSchema,
  health: healthReportSchema,
  render: renderReportSchema,
  'certs-check': certsReportSchema,
  'certs-renew': certsRenewReportSchema,
  'etcd-backup': etcdBackupReportSchema,
  'etcd-restore': etcdRestoreReportSchema,
  'bundle-create': bundleReportSchema,
  import: importReportSchema,
  kubeconfig: kubeconfigReportSchema,
  tunnel: tunnelReportSchema,
} satisfies Record<string, z.ZodType>;

export type ReportName = keyof typeof REPORT_SCHEMAS;

export const SCHEMA_DIR = 'schemas';

/** The JSON Schema (draft 2020-12) of a command's report: what the command prints, after defaults. */
export function reportJsonSchema(name: ReportName): Record<string, unknown> {
  const generated = z.toJSONSchema(REPORT_SCHEMAS[name], { target: 'draft-2020-12', io: 'output' });
  return { ...generated, $id: `https://kubestrap.dev/schemas/${name}.schema.json`, title: `bootstrap ${name.replace('-', ' ')} --output json` };
}

/** The file's text: stable key order and a final newline, so regenerating an unchanged schema changes nothing. */
export function reportSchemaText(name: ReportName): string {
  return `${JSON.stringify(reportJsonSchema(name), null, 2)}\n`;
}
