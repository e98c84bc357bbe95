import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_RECORD_FILE, parsePhaseRecords, PHASE_RECORDS_SNIPPET, unlessPhaseRecords } from '../../src/engine/host-record.js';
import { useTempDir } from '../support/tmp.js';
import { shRun } from './support.js';

const SHELLS = ['dash', 'bash', 'bash --posix'];

describe('the host record, read once per command', () => {
  const tmp = useTempDir();
  const withRecord = (content: string | undefined) => {
    const file = join(tmp(), content === undefined ? 'missing.jsonl' : 'installed.jsonl');
    if (content !== undefined) writeFileSync(file, content);
    return (script: string, shell: string) => shRun(`${shell} -c '${script.replaceAll(HOST_RECORD_FILE, file).replaceAll("'", "'\\''")}'`);
  };

  it("prints the phase entries as they are written (blanks, globs and a last line without newline kept), in dash, bash and bash's POSIX mode", () => {
    const phases = ['{"id":"phase:os","ids":["a *"],"original":{"firewalls":[]}}', '{"id":"phase:etcd","ids":[], "x":"  two  spaces\\\\"}'];
    const run = withRecord(`{"id":"file:/a","sha256":"x"}\n${phases[0]}\n  {"id":"phase:indented"}\n\n${phases[1]}`);
    for (const shell of SHELLS) {
      const out = run(PHASE_RECORDS_SNIPPET, shell).stdout;
      expect(out, shell).toBe(`${phases.join('\n')}\n`);
      expect([...parsePhaseRecords(out).keys()]).toEqual(['os', 'etcd']);
    }
    expect(withRecord(undefined)(`${PHASE_RECORDS_SNIPPET}; echo end`, 'dash').stdout).toBe('end\n');
  });

  it("runs a snippet only while the phase's entry lacks the field", () => {
    const run = withRecord('{"id":"phase:os","ids":[],"original":{"firewalls":[]}}\n{"id":"phase:osx","ids":[]}\n{"id":"phase:etcd","ids":["original"]}\n');
    for (const shell of SHELLS) {
      const probed = (phase: string) => run(`{ ${PHASE_RECORDS_SNIPPET}; } >/dev/null; ${unlessPhaseRecords(phase, 'original', 'echo probed')}`, shell).stdout;
      expect(probed('os'), shell).toBe('');
      // Another phase's field, or another entry whose name starts alike, is not this one's.
      expect(probed('osx'), shell).toBe('probed\n');
      expect(probed('etcd'), shell).toBe('probed\n');
      expect(probed('runtime'), shell).toBe('probed\n');
    }
    expect(withRecord(undefined)(unlessPhaseRecords('os', 'original', 'echo probed'), 'dash').stdout).toBe('probed\n');
  });
});
