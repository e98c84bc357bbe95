import { z } from 'zod';

/** `render`: the files written (per host with -i; as gen-config.sh names them without), and what else the folder holds. */
export const renderReportSchema = z.object({
  ok: z.literal(true).meta({ description: 'a refused render prints an error instead of a report' }),
  out: z.string().meta({ description: 'the output folder, as given' }),
  written: z.number().int(),
  files: z.array(
    z.object({
      host: z.string().nullable().meta({ description: 'the host the file is for (-i), or null in gen-config.sh mode' }),
      path: z.string().meta({ description: 'with -i: the path on the host (written to OUT/<host><path>); else the path under OUT' }),
      mode: z
        .string()
        .regex(/^[0-7]{4}$/)
        .meta({ description: 'octal, e.g. 0600' }),
      bytes: z.number().int(),
    }),
  ),
  stale: z.array(z.string()).meta({ description: 'files an earlier render wrote and this one did not (--clean removes them)' }),
  foreign: z.array(z.string()).meta({ description: 'files no render wrote: never removed' }),
});

export type RenderReport = z.input<typeof renderReportSchema>;
