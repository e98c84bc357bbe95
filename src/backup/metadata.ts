import { z } from 'zod';

/**
 * What kubestrap records next to an etcd snapshot: enough to say, before anything stops, that the
 * file is the one that was taken (size and sha256), of which cluster, and what a restore brings
 * back (revision, members, etcd's version). Written as `<snapshot>.json`, read back with this schema.
 */
export const SNAPSHOT_METADATA_FORMAT = 1;

const member = z.object({
  /** etcd's member id, hex as etcdctl prints it. */
  id: z.string().regex(/^[0-9a-f]{1,16}$/),
  name: z.string().min(1),
  peerUrls: z.array(z.string()),
});

export const snapshotMetadataSchema = z.object({
  format: z.literal(SNAPSHOT_METADATA_FORMAT),
  /** The kubestrap cluster (the inventory's name): a restore of another cluster's snapshot is refused. */
  cluster: z.string().min(1),
  takenAt: z.string().datetime(),
  /** The member that served the snapshot. */
  takenFrom: z.string().min(1),
  etcdVersion: z.string().min(1),
  revision: z.number().int().nonnegative(),
  /** etcd's cluster id, hex: the same in every snapshot of one cluster until it is restored. */
  clusterId: z.string().regex(/^[0-9a-f]{1,16}$/),
  members: z.array(member).min(1),
  /** Bytes of the snapshot file. */
  size: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** What `etcdutl snapshot status` said of the file on the member, before it left. */
  status: z.lazy(() => snapshotStatusSchema),
});

export type SnapshotMetadata = z.infer<typeof snapshotMetadataSchema>;
export type SnapshotMember = z.infer<typeof member>;

/** What `etcdctl endpoint status -w json` says of the member asked. */
export interface EndpointStatus {
  version: string;
  revision: number;
  clusterId: string;
}

/**
 * `etcdctl endpoint status -w json`. Ids are 64-bit numbers that JSON.parse would round, so they
 * are read as text and turned into hex, as etcdctl's other formats print them.
 */
export function parseEndpointStatus(text: string): EndpointStatus | undefined {
  const clusterId = /"cluster_id":(\d+)/.exec(text)?.[1];
  const revision = /"revision":(\d+)/.exec(text)?.[1];
  const version = /"version":"([^"]+)"/.exec(text)?.[1];
  if (clusterId === undefined || revision === undefined || version === undefined) return undefined;
  return { version, revision: Number(revision), clusterId: BigInt(clusterId).toString(16) };
}

/** `etcdctl member list` (simple format: `id, status, name, peer URLs, client URLs, is learner`). */
export function parseMemberList(text: string): SnapshotMember[] {
  return text.split('\n').flatMap((line) => {
    const fields = line.split(', ').map((f) => f.trim());
    const [id, , name, peers] = fields;
    if (!id || !/^[0-9a-f]{1,16}$/.test(id) || !name) return [];
    return [{ id, name, peerUrls: (peers ?? '').split(',').filter(Boolean) }];
  });
}

const snapshotStatusSchema = z.object({ hash: z.number().int(), revision: z.number().int(), totalKey: z.number().int(), totalSize: z.number().int() });

/** `etcdutl snapshot status -w json`: `{"hash":…,"revision":…,"totalKey":…,"totalSize":…}`, the first such line among etcdutl's log lines. */
export function parseSnapshotStatus(text: string): SnapshotMetadata['status'] | undefined {
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = snapshotStatusSchema.safeParse(JSON.parse(line));
      if (parsed.success) return parsed.data;
    } catch {
      // a log line cut short: not the status
    }
  }
  return undefined;
}
