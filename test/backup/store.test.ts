import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeSnapshotName, listSnapshots, openBackupDir, readCheckedSnapshot, rotateSnapshots, snapshotName } from '../../src/backup/store.js';
import { SnapshotError, StateError } from '../../src/errors.js';
import { useTempDir } from '../support/tmp.js';
import { metadataFor, storeSnapshot } from './support.js';

const DATA = Buffer.from('an etcd snapshot, as bytes\0\x01\x02');

describe('the local snapshot store', () => {
  const tmp = useTempDir();

  it('makes its folder 0700 and writes the snapshot and its metadata 0600', () => {
    const dir = join(tmp(), 'backups', 'etcd');
    openBackupDir(dir);
    const file = storeSnapshot(dir, DATA, metadataFor(DATA));
    expect(file).toBe(join(dir, 'etcd-20260102T030405.000Z.db'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}.json`).mode & 0o777).toBe(0o600);
    expect(readFileSync(file)).toEqual(DATA);
    expect(readCheckedSnapshot(file, 'lab').metadata.sha256).toBe(metadataFor(DATA).sha256);
  });

  it('refuses a folder that group or others may read', () => {
    const dir = join(tmp(), 'open');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    expect(() => openBackupDir(dir)).toThrow(StateError);
    expect(() => openBackupDir(dir)).toThrow(expect.objectContaining({ hint: `chmod 700 ${dir}` }));
  });

  it('names snapshots by time so that they sort oldest first; --keep removes the oldest with their metadata, and nothing else', () => {
    const dir = tmp();
    for (const t of ['2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z', '2026-01-02T00:00:00Z']) storeSnapshot(dir, DATA, metadataFor(DATA, { takenAt: new Date(t).toISOString() }));
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(snapshotName(new Date('2026-01-01T00:00:00Z'))).toBe('etcd-20260101T000000.000Z.db');
    expect(rotateSnapshots(dir, 2)).toEqual([join(dir, 'etcd-20260101T000000.000Z.db')]);
    expect(listSnapshots(dir)).toEqual([join(dir, 'etcd-20260102T000000.000Z.db'), join(dir, 'etcd-20260103T000000.000Z.db')]);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(rotateSnapshots(dir, 5)).toEqual([]);
  });

  it('never names a second snapshot as one already in the folder, even within the same millisecond', () => {
    const dir = tmp();
    const at = new Date('2026-01-01T00:00:00.500Z');
    const first = storeSnapshot(dir, DATA, metadataFor(DATA, { takenAt: at.toISOString() }));
    expect(first).toBe(join(dir, 'etcd-20260101T000000.500Z.db'));
    expect(freeSnapshotName(dir, at)).toBe('etcd-20260101T000000.501Z.db');
    writeFileSync(join(dir, 'etcd-20260101T000000.501Z.db.json'), '{}');
    expect(freeSnapshotName(dir, at)).toBe('etcd-20260101T000000.502Z.db');
    expect(freeSnapshotName(join(dir, 'absent'), at)).toBe('etcd-20260101T000000.500Z.db');
  });

  it('refuses a snapshot with one byte changed, saying both hashes', () => {
    const file = storeSnapshot(tmp(), DATA, metadataFor(DATA));
    const changed = Buffer.from(DATA);
    changed[3] = (changed[3] ?? 0) ^ 1;
    writeFileSync(file, changed);
    expect(() => readCheckedSnapshot(file, 'lab')).toThrow(SnapshotError);
    expect(() => readCheckedSnapshot(file, 'lab')).toThrow(/is not the snapshot that was taken/);
  });

  it('refuses a snapshot without metadata, with unreadable metadata, or of another cluster', () => {
    const dir = tmp();
    const file = storeSnapshot(dir, DATA, metadataFor(DATA));
    expect(() => readCheckedSnapshot(join(dir, 'nope.db'), 'lab')).toThrow(/no such snapshot/);
    expect(() => readCheckedSnapshot(file, 'other')).toThrow(/snapshot of cluster "lab", not of "other"/);
    writeFileSync(`${file}.json`, '{"format":1');
    expect(() => readCheckedSnapshot(file, 'lab')).toThrow(/metadata cannot be read/);
    writeFileSync(join(dir, 'bare.db'), DATA);
    expect(() => readCheckedSnapshot(join(dir, 'bare.db'), 'lab')).toThrow(/metadata \(bare.db.json\) is missing/);
  });
});
