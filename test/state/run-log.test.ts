import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { displayFilter } from '../../src/printable.js';
import { RunLog } from '../../src/state/run-log.js';
import { useTempDir } from '../support/tmp.js';

describe('debug log', () => {
  const tmp = useTempDir();

  it('redacts secrets and escapes control characters in every string it records', () => {
    const log = new RunLog(tmp(), 'plan', displayFilter(['opspw-lab-pass']));
    log.write({ event: 'phase', error: 'sudo said opspw-lab-pass\x1b[2J', nested: { list: ['\u202eopspw-lab-pass'] } });
    log.close();
    const line = readFileSync(log.file, 'utf8');
    expect(line).not.toContain('opspw-lab-pass');
    const event = JSON.parse(line) as { error: string; nested: { list: string[] } };
    expect(event.error).toBe('sudo said ********\\x1b[2J');
    expect(event.nested.list).toEqual(['\\u202e********']);
  });
});
