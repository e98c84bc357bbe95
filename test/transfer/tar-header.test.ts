import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TAR_BLOCK, tarEnd, tarFileHeader, tarPadding, type TarEntry } from '../../src/transfer/tar-header.js';
import { useTempDir } from '../support/tmp.js';

/** An archive of these files as the upload stream lays it out: header, bytes, padding, ..., end. */
function archive(files: ReadonlyArray<{ entry: TarEntry; data: Buffer }>): Buffer {
  return Buffer.concat([...files.flatMap(({ entry, data }) => [tarFileHeader(entry), data, tarPadding(data.length)]), tarEnd()]);
}

describe('tar framing, unpacked by GNU tar', () => {
  const tmp = useTempDir();

  it('gives each file its name, size and mode, for names that fit ustar, need its prefix, or need a pax record', () => {
    const dir = tmp();
    const deep = join('p'.repeat(60), 'q'.repeat(60));
    execFileSync('mkdir', ['-p', join(dir, deep)]);
    const files = [
      { entry: { path: 'short', size: 6, mode: 0o755, mtime: 1_700_000_000 }, data: Buffer.from('hello\n') },
      // 120-odd bytes: ustar's 155-byte prefix takes the folders.
      { entry: { path: join(deep, 'kubelet'), size: 70_000, mode: 0o700, mtime: 1_700_000_000 }, data: Buffer.alloc(70_000, 7) },
      // A last part over 100 bytes fits no ustar split: a pax record carries the path.
      { entry: { path: 'n'.repeat(120), size: 0, mode: 0o644, mtime: 1_700_000_000 }, data: Buffer.alloc(0) },
    ];
    const stream = archive(files);
    expect(tarFileHeader(files[0]!.entry).length).toBe(TAR_BLOCK);
    expect(tarFileHeader(files[2]!.entry).length).toBe(3 * TAR_BLOCK);
    execFileSync('tar', ['-x', '-m', '--no-same-owner', '-f', '-', '-C', dir], { input: stream });
    for (const { entry, data } of files) {
      expect(readFileSync(join(dir, entry.path)).equals(data)).toBe(true);
      expect(statSync(join(dir, entry.path)).mode & 0o7777).toBe(entry.mode);
    }
  });

  it('lists the names tar reads back, multi-byte ones included', () => {
    const path = join('stage', 'ünïcødé-'.repeat(8));
    const listed = execFileSync('tar', ['-t', '-f', '-'], { input: archive([{ entry: { path, size: 1, mode: 0o644, mtime: 0 }, data: Buffer.from('x') }]) }).toString();
    expect(listed).toBe(`${path}\n`);
  });

  it('pads file data to whole blocks and ends with two zero blocks', () => {
    expect(tarPadding(0).length).toBe(0);
    expect(tarPadding(1).length).toBe(511);
    expect(tarPadding(512).length).toBe(0);
    expect(tarEnd().equals(Buffer.alloc(2 * TAR_BLOCK))).toBe(true);
  });
});
