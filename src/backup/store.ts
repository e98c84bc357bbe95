import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SnapshotError, StateError } from '../errors.js';
import { writeFresh } from '../fresh-file.js';
import { checkPrivate } from '../state/state-dir.js';
import { type SnapshotMetadata, snapshotMetadataSchema } from './metadata.js';

/**
 * Where etcd snapshots live on the controller: by default `<state folder>/backups/etcd/`, one
 * `etcd-<time>.db` with its `etcd-<time>.db.json` each. A snapshot holds every Secret and the
 * cluster's RBAC, so the folder is 0700 and each file 0600, and a folder that others may read or
 * write is refused (as the state folder is).
 */
export const SNAPSHOT_PREFIX = 'etcd-';
export const SNAPSHOT_SUFFIX = '.db';
export const METADATA_SUFFIX = '.json';

export function defaultBackupDir(stateDir: string): string {
  return join(stateDir, 'backups', 'etcd');
}

/** Creates the folder (0700) or checks that it is private: not a link, ours, no access for group or others. */
export function openBackupDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new StateError(dir, 'is not a folder (a link or a file)', 'give --out a real folder');
  checkPrivate(dir, { risk: 'replace a snapshot that a restore would bring back', alternative: 'give --out a folder of your own' });
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new StateError(dir, `this folder is open to its group or others (mode ${mode}), and snapshots hold every Secret of the cluster`, `chmod 700 ${dir}`);
  }
}

/** A snapshot's file name for its time, to the millisecond: sortable, so that the newest is last. */
export function snapshotName(takenAt: Date): string {
  return `${SNAPSHOT_PREFIX}${takenAt.toISOString().replace(/[-:]/g, '')}${SNAPSHOT_SUFFIX}`;
}

/** The time in a snapshot's name (snapshotName's inverse), or undefined for a name it did not make. */
export function snapshotTakenAt(name: string): Date | undefined {
  const m = /^etcd-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\.\d{3})?Z\.db$/.exec(name);
  if (!m) return undefined;
  const at = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/**
 * The name for a snapshot taken at `takenAt` that no file in `dir` has yet: two backups within the
 * same millisecond must not replace one another, so the time in the name steps on until it is free.
 */
export function freeSnapshotName(dir: string, takenAt: Date): string {
  const taken = new Set(existsSync(dir) ? readdirSync(dir) : []);
  for (let at = takenAt.getTime(); ; at += 1) {
    const name = snapshotName(new Date(at));
    if (!taken.has(name) && !taken.has(`${name}${METADATA_SUFFIX}`)) return name;
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Writes a snapshot's metadata next to it, once the snapshot is in place (streamed there, see
 * snapshot.ts): the metadata names a snapshot that is complete. 0600, never through a link.
 */
export function storeMetadata(file: string, metadata: SnapshotMetadata): void {
  writeFresh(`${file}${METADATA_SUFFIX}`, `${JSON.stringify(metadata, null, 2)}\n`, 0o600);
}

/** The snapshots in `dir` that have their metadata, oldest first. */
export function listSnapshots(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const names = new Set(readdirSync(dir));
  return [...names]
    .filter((n) => n.startsWith(SNAPSHOT_PREFIX) && n.endsWith(SNAPSHOT_SUFFIX) && names.has(`${n}${METADATA_SUFFIX}`))
    .sort()
    .map((n) => join(dir, n));
}

/** `--keep N`: the oldest snapshots beyond the newest `keep` go, with their metadata; returns what went. Only files this module names are touched. */
export function rotateSnapshots(dir: string, keep: number): string[] {
  const all = listSnapshots(dir);
  const gone = all.slice(0, Math.max(0, all.length - keep));
  for (const file of gone) {
    rmSync(`${file}${METADATA_SUFFIX}`, { force: true });
    rmSync(file, { force: true });
  }
  return gone;
}

export interface CheckedSnapshot {
  file: string;
  data: Buffer;
  metadata: SnapshotMetadata;
}

/**
 * A snapshot as a restore may use it: its metadata is there and well-formed, is of this cluster,
 * and the file's size and sha256 are what was recorded when it was taken. Anything else is refused.
 */
export function readCheckedSnapshot(file: string, cluster: string): CheckedSnapshot {
  const metaFile = `${file}${METADATA_SUFFIX}`;
  if (!existsSync(file)) throw new SnapshotError(file, 'there is no such snapshot', 'give the path of a .db file that `bootstrap etcd backup` wrote (its metadata is next to it, as .db.json)');
  if (!existsSync(metaFile))
    throw new SnapshotError(
      file,
      `its metadata (${basename(metaFile)}) is missing: nothing says what this file should be`,
      'restore a snapshot that `bootstrap etcd backup` took, with its .db.json next to it',
    );
  let metadata: SnapshotMetadata;
  try {
    const parsed = snapshotMetadataSchema.safeParse(JSON.parse(readFileSync(metaFile, 'utf8')));
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '));
    metadata = parsed.data;
  } catch (err) {
    throw new SnapshotError(metaFile, `the metadata cannot be read: ${(err as Error).message}`, 'the file was changed or cut short; use another snapshot');
  }
  if (metadata.cluster !== cluster) {
    throw new SnapshotError(file, `it is a snapshot of cluster "${metadata.cluster}", not of "${cluster}"`, "check the inventory, or restore one of this cluster's snapshots");
  }
  const data = readFileSync(file);
  const hash = sha256(data);
  if (data.length !== metadata.size || hash !== metadata.sha256) {
    throw new SnapshotError(
      file,
      `the file is not the snapshot that was taken: ${data.length} bytes with sha256 ${hash}, recorded ${metadata.size} bytes with sha256 ${metadata.sha256}`,
      'it was changed or damaged since; nothing was stopped. Use another snapshot (bootstrap etcd backup lists where they are)',
    );
  }
  return { file, data, metadata };
}
