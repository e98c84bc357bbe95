import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/usage-error.js';
import { ensureRealDir, linkFresh, writeFresh, writeFreshFrom } from '../src/fresh-file.js';
import { useTempDir } from './support/tmp.js';

describe('files written on this machine', () => {
  const tmp = useTempDir();
  const refuse = (path: string, what: string) => new UsageError(`${path} is ${what}`);

  it('replace a link at the target (its target untouched) and get exactly their mode', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'victim'), 'mine');
    for (const [name, write] of [
      ['a', (f: string) => writeFresh(f, 'new', 0o640)],
      ['b', (f: string) => writeFreshFrom(f, 0o640, async (out) => void out.end('new'))],
      ['c', (f: string) => (writeFileSync(join(dir, 'source'), 'new'), linkFresh(join(dir, 'source'), f))],
    ] as const) {
      symlinkSync(join(dir, 'victim'), join(dir, name));
      await write(join(dir, name));
      expect(lstatSync(join(dir, name)).isFile()).toBe(true);
      expect(readFileSync(join(dir, name), 'utf8')).toBe('new');
      if (name !== 'c') expect(statSync(join(dir, name)).mode & 0o777).toBe(0o640);
    }
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('mine');
  });

  it('leave the target as it was, and no temp file, when the content fails half-way', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'target'), 'old');
    await expect(
      writeFreshFrom(join(dir, 'target'), 0o644, async (out) => {
        out.write('half');
        throw new Error('the source broke off');
      }),
    ).rejects.toThrow('the source broke off');
    expect(readFileSync(join(dir, 'target'), 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['target']);
  });

  it('go only into real folders, created where missing', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'linked'));
    writeFileSync(join(dir, 'file'), '');
    expect(() => ensureRealDir(dir, join(dir, 'linked', 'bin'), refuse)).toThrow(`${join(dir, 'linked')} is a symbolic link`);
    expect(() => ensureRealDir(dir, join(dir, 'file', 'bin'), refuse)).toThrow(`${join(dir, 'file')} is not a folder`);
    ensureRealDir(dir, join(dir, 'new', 'bin'), refuse, 0o700);
    expect(statSync(join(dir, 'new', 'bin')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });
});
