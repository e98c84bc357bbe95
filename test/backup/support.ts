import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SNAPSHOT_METADATA_FORMAT, type SnapshotMetadata } from '../../src/backup/metadata.js';
import { sha256, snapshotName, storeMetadata } from '../../src/backup/store.js';

/** Metadata as `etcd backup` writes it, for `data`. */
export function metadataFor(data: Buffer, overrides: Partial<SnapshotMetadata> = {}): SnapshotMetadata {
  return {
    format: SNAPSHOT_METADATA_FORMAT,
    cluster: 'lab',
    takenAt: '2026-01-02T03:04:05.000Z',
    takenFrom: 'm1',
    etcdVersion: '3.5.16',
    revision: 7,
    clusterId: 'cdf818194e3a8c32',
    members: [{ id: '8e9e05c52164694d', name: 'm1', peerUrls: ['https://10.0.0.11:2380'] }],
    size: data.length,
    sha256: sha256(data),
    status: { hash: 123, revision: 7, totalKey: 42, totalSize: data.length },
    ...overrides,
  };
}

/** A snapshot in `dir` as `etcd backup` leaves it (the file 0600, then its metadata), for tests that start from one. */
export function storeSnapshot(dir: string, data: Buffer, metadata: SnapshotMetadata): string {
  const file = join(dir, snapshotName(new Date(metadata.takenAt)));
  writeFileSync(file, data, { mode: 0o600 });
  storeMetadata(file, metadata);
  return file;
}
