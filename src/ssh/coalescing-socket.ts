import { Socket } from 'node:net';

/**
 * A TCP socket that hands the kernel the writes of one tick in two calls: the first as it comes,
 * the rest together in one writev. ssh2 writes each SSH packet (at most 32 KiB, what sshd accepts)
 * to its socket on its own, so a 1 MiB chunk of an upload would be 32 write calls, each pushing a
 * segment through the whole network stack, which on a fast link costs more CPU than the encryption.
 * Latency does not change: the rest leaves before the event loop turns.
 *
 * `_write` is the hook because it is called only for a write that is not buffered, that is, the
 * first of a burst; net.Socket replaces an instance's `write` on connect, so that one cannot be.
 */
export class CoalescingSocket extends Socket {
  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.writableCorked === 0) {
      this.cork();
      process.nextTick(() => this.uncork());
    }
    super._write(chunk, encoding, callback);
  }
}
