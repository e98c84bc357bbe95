import { z } from 'zod';
import { ManifestSchema } from '../../artifacts/manifest.js';

/** `bundle create`: the folder written and its manifest (every file with version, size and sha256). */
export const bundleReportSchema = z.object({
  ok: z.literal(true).meta({ description: 'a failed bundle prints an error instead of a report' }),
  out: z.string().meta({ description: 'the bundle folder, as given' }),
  totalBytes: z.number().int(),
  manifest: ManifestSchema,
});
