import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TAR_BLOCK, tarEnd, tarFileHeader, tarPadding, type TarEntry } from '../../src/engine/tar-header.js';
import { useTempDir } from '../support/tmp.js';

/** An archive of these files as the upload stream lays it out: header, bytes, padding, ..., end. */
function archive(files: ReadonlyArray<{ entry: TarEntry; data: Buffer }>, record = 10 * TAR_BLOCK): Buffer {
  const parts = files.flatMap(({ entry, data }) => [tarFileHeader(entry), data, tarPadding(data.length)]);
  const length = parts.reduce((n, p) => n + p.length, 0);
  return Buffer.concat([...parts, tarEnd(length, record)]);
}

describe('tar framing, unpacked by GNU tar', () => {
  const tmp = useTempDir();

  it('gives each file its name, size and mode, for names that fit ustar, need its prefix, or need a pax record', () => {
    const dir = tmp();
    const deep = join(dir, 'p'.repeat(60), 'q'.repeat(60));
    execFileSync('mkdir', ['-p', deep]);
    const files = [
      { entry: { path: join(dir, 'short'), size: 6, mode: 0o755, mtime: 1_700_000_000 }, data: Buffer.from('hello\n') },
      // 130-odd bytes: ustar's 155-byte prefix takes the folders.
      { entry: { path: join(deep, 'kubelet'), size: 70_000, mode: 0o700, mtime: 1_700_000_000 }, data: Buffer.alloc(70_000, 7) },
      // A last part over 100 bytes fits no ustar split: a pax record carries the path.
      { entry: { path: join(dir, 'n'.repeat(120)), size: 0, mode: 0o644, mtime: 1_700_000_000 }, data: Buffer.alloc(0) },
    ];
    const stream = archive(files);
    expect(stream.length % (10 * TAR_BLOCK)).toBe(0);
    expect(tarFileHeader(files[0]!.entry).length).toBe(TAR_BLOCK);
    expect(tarFileHeader(files[2]!.entry).length).toBe(3 * TAR_BLOCK);
    execFileSync('tar', ['-x', '-P', '-m', '--no-same-owner', '-f', '-'], { input: stream });
    for (const { entry, data } of files) {
      expect(readFileSync(entry.path).equals(data)).toBe(true);
      expect(statSync(entry.path).mode & 0o7777).toBe(entry.mode);
    }
  });

  it('lists the names tar reads back, multi-byte ones included', () => {
    const dir = tmp();
    const path = join(dir, 'ünïcødé-'.repeat(8));
    const listed = execFileSync('tar', ['-t', '-P', '-f', '-'], { input: archive([{ entry: { path, size: 1, mode: 0o644, mtime: 0 }, data: Buffer.from('x') }]) }).toString();
    expect(listed).toBe(`${path}\n`);
  });

  it('pads file data to whole blocks and the end to a whole record', () => {
    expect(tarPadding(0).length).toBe(0);
    expect(tarPadding(1).length).toBe(511);
    expect(tarPadding(512).length).toBe(0);
    expect(tarEnd(0, 4096).length).toBe(4096);
    expect(tarEnd(3 * TAR_BLOCK, 4096).length).toBe(5 * TAR_BLOCK);
    expect(tarEnd(7 * TAR_BLOCK, 4096).length).toBe(9 * TAR_BLOCK);
  });
});
