import type { Readable } from 'node:stream';

/**
 * The bytes of a command's stdin, pushed by their producer: each `write` resolves once the channel
 * has taken the chunk (copied it into its packets), so the producer may then reuse the chunk's
 * memory. A reader that fills the same few buffers over and over allocates nothing per chunk, which
 * in a Node process that sends hundreds of MB to many hosts at once saves garbage collection and
 * page faults that a fresh buffer per chunk costs.
 */
export type StreamSource = (write: (chunk: Buffer) => Promise<void>) => Promise<void>;

/** A Readable as a source: each chunk written in turn, the next read only once the last was taken. */
export function sourceOf(input: Readable | StreamSource): StreamSource {
  if (typeof input === 'function') return input;
  return async (write) => {
    for await (const chunk of input) await write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  };
}
