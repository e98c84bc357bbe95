import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { z } from 'zod';
import { SCHEMA_DIR, type ReportName } from '../../src/cli/output/schemas.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';

/** The committed JSON Schema file of a command's report, as a validator. */
export function schemaFile(name: ReportName): z.ZodType {
  return z.fromJSONSchema(JSON.parse(readFileSync(join(PACKAGE_ROOT, SCHEMA_DIR, `${name}.schema.json`), 'utf8')) as Parameters<typeof z.fromJSONSchema>[0]);
}

/**
 * A report a command printed fits the schema file users read (not only the zod schema it was
 * printed through): a stale or hand-edited file fails here with the report's first mismatches.
 */
export function expectFitsSchemaFile(name: ReportName, printed: string): void {
  const result = schemaFile(name).safeParse(JSON.parse(printed));
  expect(result.error?.issues.slice(0, 5) ?? [], `${name} report against ${SCHEMA_DIR}/${name}.schema.json`).toEqual([]);
}
