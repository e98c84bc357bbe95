import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFile, readLine } from '../../src/engine/shell-read.js';
import { useTempDir } from '../support/tmp.js';
import { shRun } from './support.js';

describe('files read by the shell itself (no cat process)', () => {
  const tmp = useTempDir();

  it('prints a text file exactly as cat does: the last line without its newline, backslashes, blanks and tabs kept', () => {
    for (const content of ['a\nb\n', 'a\nb', '', '\n\n', '  lead \\n and\ttab\\\n# 127.0.0.1 x\n-e -n\nlast']) {
      const file = join(tmp(), 'f');
      writeFileSync(file, content);
      expect(shRun(readFile(file)).stdout).toBe(content);
    }
  });

  it("prints nothing for a missing file, and the first line of a file with its newline (as /proc's one-line files end)", () => {
    expect(shRun(`${readFile(join(tmp(), 'missing'))} 2>/dev/null; echo end`).stdout).toBe('end\n');
    const file = join(tmp(), 'one');
    writeFileSync(file, 'node1\nmore\n');
    expect(shRun(readLine(file)).stdout).toBe('node1\n');
  });
});
