import { gzipSync } from 'node:zlib';

/** How the bytes travel: compressed once on the controller, decompressed on the host as they arrive. */
export type TransferCodec = 'zstd' | 'gzip' | 'none';

/** The command that turns the transfer bytes back into the archive's bytes on the host (none: they are the archive's). */
export const DECODERS: Record<TransferCodec, string | undefined> = { zstd: 'zstd -dcq', gzip: 'gzip -dc', none: undefined };

/**
 * `bytes` as a piece of a `codec` stream. Both decoders read concatenated frames (gzip members,
 * zstd frames) as one stream, so small pieces made here (tar headers) go between the files'
 * encodings, which were made once and are reused as they are.
 */
export function inlineFrame(codec: TransferCodec, bytes: Buffer): Buffer {
  if (codec === 'none') return bytes;
  if (codec === 'gzip') return gzipSync(bytes, { level: 1 });
  return zstdRawFrame(bytes);
}

/** zstd's largest block. */
const ZSTD_BLOCK = 128 * 1024;

/**
 * A zstd frame holding `bytes` in raw (stored) blocks: the decoder copies them, so headers cost
 * no compression here and next to nothing there. Node 20 has no zstd, and a frame of stored blocks
 * is a few bytes of format (RFC 8878): magic, a header that declares a single segment of the
 * content's size, then blocks of up to 128 KiB, each a 3-byte header (last flag, type 0, size).
 */
function zstdRawFrame(bytes: Buffer): Buffer {
  if (bytes.length >= 2 ** 32) throw new RangeError('an inline zstd piece must be under 4 GiB');
  const header = Buffer.alloc(9);
  header.writeUInt32LE(0xfd2fb528, 0);
  // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag set, no checksum, no dictionary.
  header.writeUInt8(0xa0, 4);
  header.writeUInt32LE(bytes.length, 5);
  const parts: Buffer[] = [header];
  let offset = 0;
  do {
    const size = Math.min(ZSTD_BLOCK, bytes.length - offset);
    const last = offset + size >= bytes.length ? 1 : 0;
    const blockHeader = Buffer.alloc(3);
    blockHeader.writeUIntLE((size << 3) | last, 0, 3);
    parts.push(blockHeader, bytes.subarray(offset, offset + size));
    offset += size;
  } while (offset < bytes.length);
  return Buffer.concat(parts);
}
