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

/** The start of the record line for a file with these fields, up to where its size and times follow. */
function linePrefix(path: string, fields: RecordFields): string {
  const fixed = JSON.stringify({ id: fileRecordId(path), ...fields });
  return `${fixed.slice(0, -1)},`;
}

/**
 * Sets the entry for an installed file from `fields` plus the file's size, mtime and ctime as the
 * host sees them right now (so the next probe can trust them). Atomic: a reader sees the old record
 * or the new one.
 */
export function recordFileScript(path: string, fields: RecordFields): string {
  return [`ks_stamp=$(stat -c ${STAMP_FORMAT} -- ${shq(path)})`, upsert(fileRecordId(path), shq(linePrefix(path, fields)), '"$ks_stamp"')].join('\n');
}

/**
 * Sets any other entry (`unit:kubelet.service`, `dir:/var/lib/etcd`, `version:etcd`): a line of
 * these fields. For the bring-up phases to record what they made, for reset and upgrades.
 */
export function recordEntryScript(id: string, fields: RecordFields): string {
  return upsert(id, shq(JSON.stringify({ id, ...fields })), "''");
}

/** Replaces (or adds) the line of `id` with the concatenation of two shell words, atomically. */
function upsert(id: string, first: string, second: string): string {
  return [
    `mkdir -p ${HOST_RECORD_DIR}`,
    `ks_tmp=$(mktemp ${HOST_RECORD_DIR}/.installed.XXXXXX)`,
    `{ grep -vF ${shq(recordKey(id))} ${HOST_RECORD_FILE} 2>/dev/null; printf '%s%s\\n' ${first} ${second}; } > "$ks_tmp" && mv -f "$ks_tmp" ${HOST_RECORD_FILE}`,
  ].join('\n');
}

/**
 * Probe snippet for an installed file that must hold `fields.sha256`. Prints `MODE OWNER GROUP`, then
 *   `recorded`: the record has exactly this file (size, mtime, ctime) with the wanted content;
 *   `other`: the record has exactly this file, with other content (kubestrap installed another
 *     version): it must be replaced, no need to read it;
 *   `hashed <sha256> recorded|unrecorded`: the file was read (no record of it as it is now, or
 *     `verify`), and whether the record vouches for the wanted content.
 * Or `absent` / `other-type`. The record is read once per probe (into a shell variable shared by the
 * sections) and each file costs one stat: a no-op probe of many binaries forks little and reads none.
 */
export function fileProbeSnippet(path: string, fields: RecordFields, verify: boolean): string {
  const f = shq(path);
  const wanted = shq(linePrefix(path, fields));
  const hash = (vouched: string) => `echo "hashed $(sha256sum < "$ks_f" | cut -d' ' -f1) ${vouched}"`;
  return [
    `ks_f=${f}`,
    'if [ -f "$ks_f" ] && [ ! -L "$ks_f" ]; then',
    `  [ -n "\${ks_rec_read:-}" ] || { ks_rec=$(cat ${HOST_RECORD_FILE} 2>/dev/null); ks_rec_read=1; }`,
    `  ks_st=$(stat -c '%a %U %G|'${STAMP_FORMAT} -- "$ks_f")`,
    '  echo "${ks_st%%|*}"',
    '  case "$ks_rec" in',
    `    *${wanted}"\${ks_st#*|}"*) ${verify ? hash('recorded') : 'echo recorded'} ;;`,
    `    *${shq(recordKey(fileRecordId(path)))}*) case "$ks_rec" in *"\${ks_st#*|}"*) ${verify ? hash('unrecorded') : 'echo other'} ;; *) ${hash('unrecorded')} ;; esac ;;`,
    `    *) ${hash('unrecorded')} ;;`,
    '  esac',
    'elif [ -e "$ks_f" ] || [ -L "$ks_f" ]; then echo other-type; else echo absent; fi',
  ].join('\n');
}
