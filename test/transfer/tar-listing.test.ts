import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TAR_BLOCK, tarPadding } from '../../src/transfer/tar-header.js';
import { endOfInputLine, firstAstray, layOut, readListing } from '../../src/transfer/tar-listing.js';
import { useTempDir } from '../support/tmp.js';

const entries = [
  { path: 'stage/short', size: 6, mode: 0o755, mtime: 0 },
  { path: 'stage/whole-blocks', size: 2 * TAR_BLOCK, mode: 0o755, mtime: 0 },
  // A last part over 100 bytes: a pax record before the header.
  { path: `stage/${'n'.repeat(120)}`, size: 1, mode: 0o644, mtime: 0 },
  { path: 'stage/empty', size: 0, mode: 0o600, mtime: 0 },
];

/**
 * The archive of `layout` as an upload sends it, each member's bytes `data(i)` (its size, unless a
 * test wants otherwise) followed by the padding its size calls for.
 */
function archive(layout: ReturnType<typeof layOut>, data = (i: number) => Buffer.alloc(entries[i]!.size, 'x')): Buffer {
  return Buffer.concat([...layout.members.flatMap((m, i) => [m.header, data(i), tarPadding(m.entry.size)]), layout.end]);
}

/** GNU tar's listing as the install asks for it (only the layout's members, on to the input's end). */
function untar(dir: string, stream: Buffer): string {
  mkdirSync(join(dir, 'stage'), { recursive: true });
  const names = entries.map((e) => e.path);
  try {
    return execFileSync('tar', ['-x', '-f', '-', '-i', '-v', '-R', '--no-recursion', '-C', dir, ...names], {
      input: stream,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'ignore'],
    }).toString();
  } catch (err) {
    return String((err as { stdout: Buffer }).stdout);
  }
}

describe('tar listing: where GNU tar says each member and the end are', () => {
  const tmp = useTempDir();

  it('lists each member at the block after its headers, and the end at the blocks of the whole archive', () => {
    const layout = layOut(entries);
    expect(layout.members.map((m) => m.listedAt)).toEqual([1, 3, 8, 10]);
    expect(layout.blocks).toBe(12);
    expect(untar(tmp(), archive(layout))).toBe(
      [...layout.members.map((m) => `block ${m.listedAt}: ${m.entry.path}`), 'block 10: ** Block of NULs **', 'block 11: ** Block of NULs **', endOfInputLine(12), ''].join('\n'),
    );
  });

  it('reads a listing back, a member after a header tar could not read included', () => {
    const listing = readListing(['block 1: stage/short', 'block 4: block 9: stage/x', 'block 10: ** Block of NULs **', 'block 12: ** End of File **', ''].join('\n'));
    expect(listing).toEqual({ listed: new Set([1, 9]), endedAt: 12 });
  });

  it('finds no fault in the listing of the archive as laid out', () => {
    const layout = layOut(entries);
    expect(firstAstray(layout, readListing(untar(tmp(), archive(layout))))).toBeUndefined();
  });

  it('names the member whose bytes were more than its header said, or fewer', () => {
    const layout = layOut(entries);
    const more = archive(layout, (i) => Buffer.alloc(entries[i]!.size + (i === 1 ? TAR_BLOCK : 0), 'x'));
    expect(firstAstray(layout, readListing(untar(tmp(), more)))).toEqual({ member: layout.members[1], more: true });
    const fewer = archive(layout, (i) => Buffer.alloc(i === 0 ? 1 : entries[i]!.size, 'x'));
    expect(firstAstray(layout, readListing(untar(tmp(), fewer)))).toEqual({ member: layout.members[0], more: false });
  });

  it('blames the last member when everything is listed where it belongs but the input goes on', () => {
    const layout = layOut(entries);
    const longer = Buffer.concat([archive(layout), Buffer.alloc(TAR_BLOCK)]);
    expect(firstAstray(layout, readListing(untar(tmp(), longer)))).toEqual({ member: layout.members[3], more: true });
  });
});
