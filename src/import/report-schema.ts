import { z } from 'zod';
import { KNOWN_KEYS, type KnownKey } from '../config/keys.js';
import { FORMATS } from './flavours.js';

/**
 * `bootstrap import --output json`: the files read and written, what was carried over and from
 * where, and every value that was not, with why. The types the import works with come from here.
 */
export const reportItemSchema = z
  .object({
    /** A variable, a group or a host. */
    name: z.string(),
    /** Its value as written; absent for secrets. */
    value: z.string().optional(),
    /** The file and line, or the file and YAML path, it was written at. */
    where: z.string(),
    why: z.string(),
    hint: z.string().optional(),
  })
  .strict();

export const carriedPropertySchema = z
  .object({
    key: z.enum(Object.keys(KNOWN_KEYS) as [KnownKey, ...KnownKey[]]),
    value: z.string(),
    /** The variables it came from (name and where), or how it was derived. */
    from: z.array(z.string()),
  })
  .strict();

export const importReportSchema = z
  .object({
    /** false when plan would refuse the files written (planProblems says why). */
    ok: z.boolean(),
    format: z.enum(FORMATS),
    read: z.array(z.string()),
    written: z.object({ inventory: z.string(), config: z.string() }).strict(),
    /** inventory.yaml as written (its schema: src/config/inventory-schema.ts). */
    inventory: z.record(z.string(), z.unknown()),
    properties: z.array(carriedPropertySchema),
    /** Values kubestrap does the same way already: no key written. */
    settled: z.array(reportItemSchema),
    /** Values carried over in another form (a node name changed, the cluster's name). */
    adjusted: z.array(reportItemSchema),
    notCarriedOver: z.array(reportItemSchema),
    planProblems: z.array(z.string()),
  })
  .strict();

export type ReportItem = z.infer<typeof reportItemSchema>;
export type CarriedProperty = z.infer<typeof carriedPropertySchema>;
export type ImportReport = z.infer<typeof importReportSchema>;
