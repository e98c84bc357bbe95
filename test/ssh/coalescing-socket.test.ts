import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CoalescingSocket } from '../../src/ssh/coalescing-socket.js';

/** A local TCP server that keeps everything it receives. */
async function sink(): Promise<{ server: Server; port: number; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = createServer((s) => s.on('data', (d: Buffer) => chunks.push(d)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, received: () => Buffer.concat(chunks) };
}

describe('CoalescingSocket', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('hands the kernel a burst of writes in two calls, in order, and every byte arrives', async () => {
    const local = await sink();
    server = local.server;
    const socket = new CoalescingSocket();
    const calls: number[] = [];
    // Counted at the socket's own handle calls: one entry per system call's worth of writes.
    const write = socket._write.bind(socket);
    const writev = socket._writev!.bind(socket);
    socket._write = (chunk, encoding, cb) => (calls.push(1), write(chunk, encoding, cb));
    socket._writev = (chunks, cb) => (calls.push(chunks.length), writev(chunks, cb));
    await new Promise<void>((resolve) => socket.connect({ host: '127.0.0.1', port: local.port }, resolve));

    const packets = Array.from({ length: 32 }, (_, i) => Buffer.alloc(32 * 1024, i));
    for (const p of packets) socket.write(p);
    await new Promise<void>((resolve) => socket.end(resolve));
    await new Promise((r) => setTimeout(r, 50));

    expect(calls).toEqual([1, 31]);
    expect(local.received().equals(Buffer.concat(packets))).toBe(true);
  });

  it('sends a write of a later tick on its own, without waiting for more', async () => {
    const local = await sink();
    server = local.server;
    const socket = new CoalescingSocket();
    await new Promise<void>((resolve) => socket.connect({ host: '127.0.0.1', port: local.port }, resolve));
    socket.write('first');
    await new Promise((r) => setImmediate(r));
    socket.write('second');
    await new Promise((r) => setTimeout(r, 50));
    expect(local.received().toString()).toBe('firstsecond');
    expect(socket.writableCorked).toBe(0);
    socket.destroy();
  });
});
