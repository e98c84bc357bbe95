import type { Duplex } from 'node:stream';

/**
 * The server side of SFTP v3 for a simulated host: every write is accepted and dropped. It is its
 * own (small) implementation because ssh2's server announces no extensions, and kubestrap renames
 * with posix-rename@openssh.com, as OpenSSH's sftp-server offers it. Opens return a handle, writes,
 * attributes, renames, folders and removals succeed; a stat finds nothing.
 */
const T = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  REALPATH: 16,
  STAT: 17,
  LSTAT: 7,
  FSTAT: 8,
  STATUS: 101,
  HANDLE: 102,
  NAME: 104,
} as const;
const OK = 0;
const NO_SUCH_FILE = 2;

export function serveSftpSink(channel: Duplex): void {
  let pending: Buffer = Buffer.alloc(0);
  let handles = 0;
  channel.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      const packet = pending.subarray(4, 4 + length);
      pending = pending.subarray(4 + length);
      const reply = answer(packet, () => handles++);
      if (reply) channel.write(reply);
    }
  });
  channel.on('error', () => undefined);
}

function answer(packet: Buffer, nextHandle: () => number): Buffer | undefined {
  const type = packet[0]!;
  if (type === T.INIT) return frame(T.VERSION, [u32(3), str('posix-rename@openssh.com'), str('1')]);
  const id = packet.readUInt32BE(1);
  switch (type) {
    case T.OPEN:
      return frame(T.HANDLE, [u32(id), str(`h${nextHandle()}`)]);
    case T.REALPATH: {
      const path = packet.subarray(9, 9 + packet.readUInt32BE(5)).toString();
      return frame(T.NAME, [u32(id), u32(1), str(path === '.' ? '/root' : path), str(''), u32(0)]);
    }
    case T.STAT:
    case T.LSTAT:
    case T.FSTAT:
      return status(id, NO_SUCH_FILE);
    default:
      return status(id, OK);
  }
}

function status(id: number, code: number): Buffer {
  return frame(T.STATUS, [u32(id), u32(code), str(''), str('')]);
}

function frame(type: number, parts: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...parts]);
  return Buffer.concat([u32(body.length), body]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([u32(b.length), b]);
}
