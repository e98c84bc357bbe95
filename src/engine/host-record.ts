import { shq } from '../ssh/quote.js';
import type { Upload } from '../transfer/upload.js';

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

/** What a record line may hold: JSON values. */
export type RecordValue = string | number | boolean | readonly RecordValue[] | { readonly [key: string]: RecordValue };
export type RecordFields = Readonly<Record<string, RecordValue>>;

/** stat(1) format printing the end of a file's record line: size, mtime and ctime with nanoseconds. */
const STAMP = '"size":%s,"mtime":"%y","ctime":"%z"}';

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
  return recordFilesScript([{ path, fields }]);
}

/**
 * recordFileScript for many files at once, at the cost of one: one stat for every file's stamp and
 * one rewrite of the record. The stamps come back one line each, in order, and are paired with
 * their line prefixes by shell builtins.
 */
export function recordFilesScript(files: ReadonlyArray<{ path: string; fields: RecordFields }>): string {
  if (files.length === 0) return ':';
  const lines = files.map((f) => `IFS= read -r ks_s; printf '%s%s\\n' ${shq(linePrefix(f.path, f.fields))} "$ks_s"`);
  return [
    `ks_stamps=$(stat -c ${shq(STAMP)} -- ${files.map((f) => shq(f.path)).join(' ')})`,
    upsert(
      files.map((f) => fileRecordId(f.path)),
      `printf '%s\\n' "$ks_stamps" | { ${lines.join('; ')}; }`,
    ),
  ].join('\n');
}

/** A file the engine uploads, with the fields its record entry gets besides its sha256 (component, version, ...). */
export interface RecordedUpload extends Upload {
  record: RecordFields;
}

/** The record update for files an upload installed: run by the install once they are in place (see uploadFiles' afterInstall). */
export function recordUploadsScript(uploads: readonly RecordedUpload[]): string {
  return recordFilesScript(uploads.map((u) => ({ path: u.path, fields: { sha256: u.sha256, ...u.record } })));
}

/**
 * Sets any other entry (`unit:kubelet.service`, `dir:/var/lib/etcd`, `version:etcd`): a line of
 * these fields. For the bring-up phases to record what they made, for reset and upgrades.
 */
export function recordEntryScript(id: string, fields: RecordFields): string {
  return recordLineScript(id, JSON.stringify({ id, ...fields }));
}

/** Sets the entry `id` to exactly `line` (which starts with that id). */
export function recordLineScript(id: string, line: string): string {
  return upsert([id], `printf '%s\\n' ${shq(line)}`);
}

/** Removes the lines of `ids` from the record (nothing when it has none), atomically. */
export function forgetEntriesScript(ids: readonly string[]): string {
  return ids.length ? upsert(ids, ':') : ':';
}

/**
 * A phase's entry: what it installed on the host and what it keeps for later runs, as one line
 * `{"id":"phase:<name>","ids":[...],"restarts":{...},...fields}`. Its text depends only on what the
 * phase wants, so the entry changes exactly when that does.
 */
export function phaseRecordId(phase: string): string {
  return `phase:${phase}`;
}

export function phaseRecordLine(phase: string, ids: readonly string[], restarts: Readonly<Record<string, string[]>>, fields: RecordFields): string {
  return JSON.stringify({ id: phaseRecordId(phase), ids, restarts, ...fields });
}

/** What a phase's entry says it installed on a host. */
export interface RecordedPhase {
  ids: string[];
  restarts: Record<string, string[]>;
  fields: Record<string, unknown>;
  /** The entry as written, for comparing with the one a run wants. */
  line: string;
}

const PHASE_LINE_PREFIX = '{"id":"phase:';

/** A newline, as a shell word inside a pattern or a double-quoted string. */
const NL = '"\n"';

/**
 * The record into the shell variable `ks_rec`, once per command whoever asks first (the fact
 * command's record section, the probe's record and installed-file kinds): one `cat`. Not the
 * shell's `read` loop: dash reads a file one byte per system call, and the record of a master is
 * several KB (a loop over it cost 14 ms of the host's CPU, a cat 1-2 ms). Empty without a record.
 */
export const READ_RECORD = `[ -n "\${ks_rec_read:-}" ] || { ks_rec=$(cat ${HOST_RECORD_FILE} 2>/dev/null) || ks_rec=; ks_rec_read=1; }`;

/** The lines of `ks_rec` that start with `prefix`, by shell builtins over the variable (no process). */
function recordLinesStarting(prefix: string): string {
  return `ks_ifs=$IFS; IFS=${NL}; set -f; for ks_l in $ks_rec; do case $ks_l in ${shq(prefix)}*) printf '%s\\n' "$ks_l" ;; esac; done; set +f; IFS=$ks_ifs`;
}

/** Prints the record's phase entries, one per line. What the fact command runs, and the record kind's probe. */
export const PHASE_RECORDS_SNIPPET = `${READ_RECORD}\n${recordLinesStarting(PHASE_LINE_PREFIX)}`;

/**
 * `snippet` where the host record's entry of `phase` does not hold `field` yet (a fact that only an
 * earlier run's record can spare: the os phase's original settings); nothing where it does. Runs
 * after the fact command's record section (READ_RECORD), by builtins.
 */
export function unlessPhaseRecords(phase: string, field: string, snippet: string): string {
  const start = `${PHASE_LINE_PREFIX}${phase}",`;
  return [
    READ_RECORD,
    `case ${NL}"$ks_rec" in`,
    `  *${NL}${shq(start)}*) ks_l=\${ks_rec#*${shq(start)}}; ks_l=\${ks_l%%${NL}*} ;;`,
    '  *) ks_l= ;;',
    'esac',
    `case "$ks_l" in *${shq(`"${field}":`)}*) ;; *)`,
    snippet,
    ';; esac',
  ].join('\n');
}

/** The phase entries printed by PHASE_RECORDS_SNIPPET, by phase; a line that does not parse is skipped. */
export function parsePhaseRecords(output: string): Map<string, RecordedPhase> {
  const out = new Map<string, RecordedPhase>();
  for (const line of output.split('\n')) {
    if (!line.startsWith(PHASE_LINE_PREFIX)) continue;
    try {
      const { id, ids, restarts, ...fields } = JSON.parse(line) as { id: string; ids?: unknown; restarts?: unknown } & Record<string, unknown>;
      out.set(id.slice('phase:'.length), {
        ids: Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [],
        restarts: restarts && typeof restarts === 'object' ? (restarts as Record<string, string[]>) : {},
        fields,
        line,
      });
    } catch {
      // Not an entry kubestrap wrote: ignored, and replaced by the next write of that phase.
    }
  }
  return out;
}

/** Replaces (or adds) the lines of `ids` with what `writeLines` prints, atomically. */
function upsert(ids: readonly string[], writeLines: string): string {
  return [
    `mkdir -p ${HOST_RECORD_DIR}`,
    `ks_tmp=$(mktemp ${HOST_RECORD_DIR}/.installed.XXXXXX)`,
    `{ grep -vF ${ids.map((id) => `-e ${shq(recordKey(id))}`).join(' ')} ${HOST_RECORD_FILE} 2>/dev/null; ${writeLines}; } > "$ks_tmp" && mv -f "$ks_tmp" ${HOST_RECORD_FILE}`,
  ].join('\n');
}

/** The line before each file's part of filesProbeSnippet's output. */
export const LOCAL_FILE_MARKER = '@@kubestrap-local-file';

/**
 * Probe snippet for installed files, each of which must hold its `fields.sha256`. For each file, in
 * order, prints a line `@@kubestrap-local-file`, then `MODE OWNER GROUP` and one of
 *   `recorded`: the record has exactly this file (size, mtime, ctime) with the wanted content;
 *   `other`: the record has exactly this file, with other content (kubestrap installed another
 *     version): it must be replaced, no need to read it;
 *   `hashed <sha256> recorded|unrecorded`: the file was read (no record of it as it is now, or
 *     `verify`), and whether the record vouches for the wanted content;
 * or only `absent` / `other-type`.
 *
 * Two processes for all the files, whatever their number: one stat (a link is not followed) and one
 * read of the record (READ_RECORD, shared with the record kind), both into shell variables that builtins then search file by file. Only a file
 * that must be read costs more (its sha256sum). A no-op run of many binaries reads none of them.
 */
export function filesProbeSnippet(files: ReadonlyArray<{ path: string; fields: RecordFields; verify: boolean }>): string {
  if (files.length === 0) return ':';
  return [
    READ_RECORD,
    // One line per file that exists, the path last: `TYPE|MODE OWNER GROUP|STAMP|PATH`.
    `ks_stats="$(LC_ALL=C stat -c ${shq(`%F|%a %U %G|${STAMP}|%n`)} -- ${files.map((f) => shq(f.path)).join(' ')} 2>/dev/null)\n"`,
    ...files.map((f) => fileSection(f.path, f.fields, f.verify)),
  ].join('\n');
}

function fileSection(path: string, fields: RecordFields, verify: boolean): string {
  const wanted = shq(linePrefix(path, fields));
  const hash = (vouched: string) => `echo "hashed $(sha256sum < "$ks_f" | cut -d' ' -f1) ${vouched}"`;
  return [
    `echo ${LOCAL_FILE_MARKER}; ks_f=${shq(path)}`,
    `case "$ks_stats" in`,
    `  *"|$ks_f"${NL}*) ks_l=\${ks_stats%%"|$ks_f"${NL}*}; ks_l=\${ks_l##*${NL}} ;;`,
    '  *) ks_l= ;;',
    'esac',
    'case "$ks_l" in',
    "  'regular file|'* | 'regular empty file|'*)",
    '    ks_l=${ks_l#*|}; echo "${ks_l%%|*}"; ks_st=${ks_l#*|}',
    '    case "$ks_rec" in',
    `      *${wanted}"$ks_st"*) ${verify ? hash('recorded') : 'echo recorded'} ;;`,
    `      *${shq(recordKey(fileRecordId(path)))}*) case "$ks_rec" in *"$ks_st"*) ${verify ? hash('unrecorded') : 'echo other'} ;; *) ${hash('unrecorded')} ;; esac ;;`,
    `      *) ${hash('unrecorded')} ;;`,
    '    esac ;;',
    "  '') echo absent ;;",
    '  *) echo other-type ;;',
    'esac',
  ].join('\n');
}
