import { z } from 'zod';
import { snapshotMetadataSchema } from '../../backup/metadata.js';
import { healthRowSchema } from './health-json.js';

/** `etcd backup`: the snapshot written, what it holds, the members skipped and the older snapshots --keep removed. */
export const etcdBackupReportSchema = z.object({
  ok: z.literal(true).meta({ description: 'a failed backup prints an error instead of a report' }),
  file: z.string().meta({ description: 'absolute path of the snapshot on this machine' }),
  metadata: snapshotMetadataSchema,
  skipped: z.array(z.object({ host: z.string(), reason: z.string() })).meta({ description: 'members that could not serve the snapshot' }),
  removed: z.array(z.string()).meta({ description: 'older snapshots removed by --keep' }),
  durationMs: z.number().int(),
});

/** `etcd restore` (and `--rollback`): what was done and the health check after it. */
export const etcdRestoreReportSchema = z.object({
  ok: z.boolean().meta({ description: 'the health check after the restore passed' }),
  rollback: z.boolean(),
  movedBack: z.array(z.string()).optional().meta({ description: '--rollback: the members whose moved-aside data was put back' }),
  snapshot: z.string().optional().meta({ description: 'the snapshot restored' }),
  durationMs: z.number().int(),
  health: z.array(healthRowSchema),
});
