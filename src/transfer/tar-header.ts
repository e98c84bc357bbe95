/**
 * The framing of a tar archive (POSIX ustar, with a pax record where ustar's fields are too small),
 * written around file bytes that come from elsewhere: uploads stream each file's bytes between the
 * headers made here, so one `tar -x` on the host unpacks every file of a host in one process.
 */
export const TAR_BLOCK = 512;

export interface TarEntry {
  /** The member's name, relative to the folder the host's tar extracts into. */
  path: string;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
}

/** ustar's numeric fields hold an octal number of one digit less than their width. */
const SIZE_LIMIT = 8 ** 11;
const NAME_BYTES = 100;
const PREFIX_BYTES = 155;

/** The header blocks of a regular file of `entry.size` bytes: a pax record first when the path or size do not fit ustar. */
export function tarFileHeader(entry: TarEntry): Buffer {
  const split = splitName(entry.path);
  const pax: string[] = [];
  if (!split) pax.push(paxRecord('path', entry.path));
  if (entry.size >= SIZE_LIMIT) pax.push(paxRecord('size', String(entry.size)));
  const own = ustarBlock({ ...(split ?? { name: '', prefix: '' }), size: entry.size < SIZE_LIMIT ? entry.size : 0, mode: entry.mode, mtime: entry.mtime, type: '0' });
  if (pax.length === 0) return own;
  const records = Buffer.from(pax.join(''), 'utf8');
  const paxHeader = ustarBlock({ name: 'PaxHeader', prefix: '', size: records.length, mode: 0o644, mtime: entry.mtime, type: 'x' });
  return Buffer.concat([paxHeader, records, tarPadding(records.length), own]);
}

/** Zeros that bring `size` bytes of file data to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/** The end of an archive: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK);
}

/** The path as ustar's prefix and name (cut at a slash), or undefined when it does not fit. */
function splitName(path: string): { name: string; prefix: string } | undefined {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  if (bytes(path) <= NAME_BYTES) return { name: path, prefix: '' };
  for (let cut = path.indexOf('/', 1); cut > 0; cut = path.indexOf('/', cut + 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (bytes(prefix) <= PREFIX_BYTES && name && bytes(name) <= NAME_BYTES) return { name, prefix };
  }
  return undefined;
}

/** `LENGTH KEY=VALUE\n`, where LENGTH counts the whole record, its own digits included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body, 'utf8');
  while (String(length).length + Buffer.byteLength(body, 'utf8') !== length) length = String(length).length + Buffer.byteLength(body, 'utf8');
  return `${length}${body}`;
}

function ustarBlock(h: { name: string; prefix: string; size: number; mode: number; mtime: number; type: string }): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  block.write(h.name, 0, NAME_BYTES, 'utf8');
  octalField(block, 100, 8, h.mode & 0o7777);
  octalField(block, 108, 8, 0);
  octalField(block, 116, 8, 0);
  octalField(block, 124, 12, h.size);
  octalField(block, 136, 12, Math.max(0, Math.floor(h.mtime)));
  block.write(h.type, 156, 1, 'ascii');
  block.write('ustar\u000000', 257, 8, 'ascii');
  block.write('root', 265, 32, 'ascii');
  block.write('root', 297, 32, 'ascii');
  block.write(h.prefix, 345, PREFIX_BYTES, 'utf8');
  // The checksum is the sum of the block's bytes with its own field taken as spaces.
  block.fill(' ', 148, 156);
  const sum = block.reduce((n, byte) => n + byte, 0);
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return block;
}

function octalField(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'ascii');
}
