import { change, script } from '../change.js';
import { forgetEntriesScript, parsePhaseRecords, PHASE_RECORDS_SNIPPET, phaseRecordId, phaseRecordLine, recordLineScript } from '../host-record.js';
import type { RecordResource } from '../resource.js';
import type { Kind } from './kind.js';

/**
 * A phase's entry in the host record. All of a host's entries are read by one loop of shell
 * builtins over the record; an entry is written only when its text differs from the wanted one,
 * so a no-op run writes nothing. A phase that installs nothing on the host any more loses its entry.
 */
export const recordKind: Kind<RecordResource> = {
  batch: {
    probe: () => PHASE_RECORDS_SNIPPET,
    split: (output, rs) => {
      const recorded = parsePhaseRecords(output);
      return rs.map((r) => recorded.get(r.phase)?.line ?? '');
    },
  },
  diff: (r, observed, id) => {
    const empty = r.ids.length === 0 && Object.keys(r.fields).length === 0;
    if (empty) return observed ? change(r, id, `forget what the ${r.phase} phase installed (nothing left)`, [script(forgetEntriesScript([phaseRecordId(r.phase)]))]) : undefined;
    const line = phaseRecordLine(r.phase, r.ids, r.restarts, r.fields);
    if (observed === line) return undefined;
    return change(r, id, `record what the ${r.phase} phase installed (${r.ids.length} item${r.ids.length === 1 ? '' : 's'})`, [script(recordLineScript(phaseRecordId(r.phase), line))]);
  },
};
