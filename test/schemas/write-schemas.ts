// `npm run schemas`: writes schemas/<command>.schema.json from the zod schemas (REPORT_SCHEMAS).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPORT_SCHEMAS, reportSchemaText, SCHEMA_DIR, type ReportName } from '../../src/cli/output/schemas.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';

const dir = join(PACKAGE_ROOT, SCHEMA_DIR);
mkdirSync(dir, { recursive: true });
for (const name of Object.keys(REPORT_SCHEMAS) as ReportName[]) {
  writeFileSync(join(dir, `${name}.schema.json`), reportSchemaText(name));
  console.log(`wrote ${SCHEMA_DIR}/${name}.schema.json`);
}
