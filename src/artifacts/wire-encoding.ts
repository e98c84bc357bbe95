import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { TransferCodec } from '../transfer/transfer-codec.js';
import { drain, measure, meter, readChunks, type Meter } from './meter.js';

/**
 * A binary encoded for the wire (gzip, or zstd by the zstd tool: Node 20 has none), and the check
 * of an encoding against the bytes it decodes to. An encoding is made from the bytes it hashes as it
 * reads them, so it can only hold bytes that were checked, whatever happens to the file meanwhile.
 * Both ends are measured: what went in (the binary) and what came out (the encoding), so that a
 * later run can check the encoding itself by one read (see ArtifactCache.checkSent).
 */
export type Encoding = Exclude<TransferCodec, 'none'>;

export interface Content {
  sha256: string;
  size: number;
}

/** A binary and its encoding (for `none`, the same bytes twice). */
export interface Encoded {
  content: Content;
  encoding: Content;
}

/** Thrown by a meter: the bytes went past the size they must have. */
class TooLong extends Error {}

const tooLong = (limit: number) => new TooLong(`more than ${limit} bytes`);

const contentOf = (m: Meter): Content => ({ sha256: m.hex('sha256'), size: m.size() });

/**
 * Encodes `file` into `out` (which it ends), hashing the bytes as the encoder takes them and as it
 * gives them; the caller compares the first with what they must be. Undefined when the file held
 * more than `size` bytes (the encoding then failed half-way).
 */
export async function encodeFrom(file: string, codec: Encoding, size: number, out: Writable): Promise<Encoded | undefined> {
  const input = meter({ limit: size, tooLarge: tooLong });
  const output = meter();
  try {
    if (codec === 'gzip') {
      await pipeline(readChunks(file), input.stream, createGzip({ level: 6 }), output.stream, out);
    } else {
      const child = spawn('zstd', ['-q', '-3', '-T0', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
      await untilExit(child, [pipeline(readChunks(file), input.stream, child.stdin), pipeline(child.stdout, output.stream, out)]);
    }
  } catch (err) {
    if (err instanceof TooLong) return undefined;
    throw err;
  }
  return { content: contentOf(input), encoding: contentOf(output) };
}

/**
 * What `file` decodes to under `codec` (its own bytes for `none`), and the file's own digest. The
 * decoding stops once it passes `limit` bytes (a file that expands past the size it must have is
 * not it, whatever it would hash to), and then the result is undefined.
 */
export async function decodedContent(file: string, codec: TransferCodec, limit: number): Promise<Encoded | undefined> {
  const encoding = meter();
  const decoded = meter({ limit, tooLarge: tooLong });
  try {
    if (codec === 'none') {
      await measure(readChunks(file), decoded);
      return { content: contentOf(decoded), encoding: contentOf(decoded) };
    }
    if (codec === 'gzip') {
      await pipeline(readChunks(file), encoding.stream, createGunzip({ chunkSize: 256 * 1024 }), decoded.stream, drain);
    } else {
      const child = spawn('zstd', ['-dcq'], { stdio: ['pipe', 'pipe', 'pipe'] });
      await untilExit(child, [pipeline(readChunks(file), encoding.stream, child.stdin), measure(child.stdout, decoded)]);
    }
  } catch (err) {
    if (err instanceof TooLong) return undefined;
    throw err;
  }
  return { content: contentOf(decoded), encoding: contentOf(encoding) };
}

/** The zstd process's streams and its exit, together: the first failure kills it and is thrown. */
async function untilExit(child: ChildProcessByStdio<Writable, Readable, Readable>, streams: Array<Promise<void>>): Promise<void> {
  await Promise.all([...streams, exited(child)]).catch((err: unknown) => {
    child.kill();
    throw err;
  });
}

function exited(child: ChildProcessByStdio<Writable, Readable, Readable>): Promise<void> {
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}: ${stderr.trim()}`))));
  });
}

let localZstd: boolean | undefined;

/** Whether this machine can make zstd encodings (the zstd tool is on PATH). */
export function hasLocalZstd(): boolean {
  if (localZstd === undefined) {
    const path = (process.env.PATH ?? '').split(':').filter(Boolean);
    localZstd = path.some((dir) => existsSync(join(dir, 'zstd')));
  }
  return localZstd;
}
