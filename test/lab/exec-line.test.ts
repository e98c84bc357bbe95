import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../support/tmp.js';
import { execLine } from './exec-line.js';

/** What `sh -c` makes of the line, as a host's shell would run it. */
const run = (argv: string[], cwd: string): string => execFileSync('sh', ['-c', execLine(argv)], { cwd, encoding: 'utf8' });

describe('npm run lab -- exec: the command line a host runs', () => {
  const tmpDir = useTempDir('lab-exec-');

  it('passes each argument as one word: a | in a pattern is a pattern, not a pipe', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'f'), 'a\nb\nc\n');
    expect(run(['grep', '-E', 'a|b', 'f'], dir)).toBe('a\nb\n');
  });

  it('keeps blanks, quotes, $, globs and semicolons as they are', () => {
    const dir = tmpDir();
    expect(run(['printf', '[%s]\\n', 'two words', "it's", '$HOME', '*', 'x; echo no'], dir)).toBe("[two words]\n[it's]\n[$HOME]\n[*]\n[x; echo no]\n");
  });

  it('runs a shell line only when asked to, through sh -c', () => {
    expect(run(['sh', '-c', 'echo a | tr a b'], tmpDir())).toBe('b\n');
  });

  it('refuses an empty command', () => {
    expect(() => execLine([])).toThrow('exec needs a command after --');
  });
});
