import { shq } from '../ssh/quote.js';

/**
 * kubestrap's record on each host of what it installed: one JSON object per line, keyed by an id
 * such as `file:/opt/kube/bin/kubelet`, e.g.
 *   {"id":"file:/opt/kube/bin/kubelet","sha256":"…","component":"kubelet","version":"v1.36.0","size":118,"mtime":"2026-11-29 08:31:00.123456789 +0000","ctime":"…"}
 * One line per entry makes reading and updating it possible with grep and printf alone (no jq or
 * python on the host), while every line stays JSON for anything else that reads it (reset, upgrade,
 * remove-node). Other entry kinds (units, data folders, versions) use ids with their own prefix.
 *
 * For installed files the record is what makes a no-op run cheap: a file whose size, mtime and
 * ctime (to the nanosecond) are those recorded when kubestrap wrote it is taken to hold the recorded
 * sha256, so hundreds of MB of binaries are not hashed again on every run. Any write changes the
 * ctime, which no tool can set back, so only a change below the filesystem goes unnoticed: that is
 * what `apply --verify-binaries` is for.
 */
export const HOST_RECORD_DIR = '/var/lib/kubestrap';
export const HOST_RECORD_FILE = `${HOST_RECORD_DIR}/installed.jsonl`;

export type RecordFields = Readonly<Record<string, string | number>>;

/** stat(1) format printing the end of a file's record line: size, mtime and ctime with nanoseconds. */
const STAMP_FORMAT = `'"size":%s,"mtime":"%y","ctime":"%z"}'`;

export function fileRecordId(path: string): string {
  return `file:${path}`;
}

/** The start of the entry's line, unique to it: `{"id":"file:/a",` is not a prefix of `{"id":"file:/ab",`. */
export function recordKey(id: string): string {
  return `{"id":${JSON.stringify(id)},`;
}

/**
 * Sets the entry for an installed file from `fields` plus the file's size, mtime and ctime as the
 * host sees them right now (so the next probe can trust them). Atomic: a reader sees the old record
 * or the new one.
 */
export function recordFileScript(path: string, fields: RecordFields): string {
  const id = fileRecordId(path);
  const fixed = JSON.stringify({ id, ...fields });
  const prefix = `${fixed.slice(0, -1)},`;
  return [
    `mkdir -p ${HOST_RECORD_DIR}`,
    `ks_stamp=$(stat -c ${STAMP_FORMAT} ${shq(path)})`,
    `ks_tmp=$(mktemp ${HOST_RECORD_DIR}/.installed.XXXXXX)`,
    `{ grep -vF ${shq(recordKey(id))} ${HOST_RECORD_FILE} 2>/dev/null; printf '%s%s\\n' ${shq(prefix)} "$ks_stamp"; } > "$ks_tmp" && mv -f "$ks_tmp" ${HOST_RECORD_FILE}`,
  ].join('\n');
}

/**
 * Probe snippet: prints `recorded <sha256>` when the record has an entry for the file with the size,
 * mtime and ctime it has now (the file is not read), else `hashed <sha256> unrecorded` after reading
 * the whole file. With `verify` every file is read: `hashed <sha256> recorded|unrecorded`, so that a
 * verified file whose record is right needs no change.
 */
export function recordedOrHashedSnippet(path: string, verify: boolean): string {
  const f = shq(path);
  const key = shq(recordKey(fileRecordId(path)));
  const hash = (vouched: string) => `echo "hashed $(sha256sum < ${f} | cut -d' ' -f1) ${vouched}"`;
  return [
    `ks_line=$(grep -F ${key} ${HOST_RECORD_FILE} | head -n 1)`,
    `ks_stamp=$(stat -c ${STAMP_FORMAT} ${f})`,
    'case "$ks_line" in',
    verify
      ? `  *"$ks_stamp") ${hash('recorded')} ;;`
      : `  *"$ks_stamp") echo "recorded $(printf '%s' "$ks_line" | sed -n 's/.*"sha256":"\\([0-9a-f]*\\)".*/\\1/p')" ;;`,
    `  *) ${hash('unrecorded')} ;;`,
    'esac',
  ].join('\n');
}
