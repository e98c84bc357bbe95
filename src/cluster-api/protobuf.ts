/**
 * The few protobuf messages etcd's gRPC API exchanges with kubestrap, encoded and decoded by hand:
 * requests are a few keys, names, IDs and flags, and answers are read field by field, so a generated
 * client and a protobuf runtime would be the larger part of kubestrap for its few calls. Wire format:
 * https://protobuf.dev/programming-guides/encoding/ (varints, length-delimited fields).
 */

/** A decoded message: per field number, its values in order (varints as bigint, length-delimited as bytes). */
export type Message = Map<number, Array<bigint | Buffer>>;

/** A field's value: text and bytes are length-delimited (a nested message is its encoded bytes), numbers and booleans varints. */
export type FieldValue = Buffer | string | bigint | number | boolean;

/** Base-128 varint of a non-negative integer up to 64 bits (a uint64 member ID needs the bigint). */
function varint(value: bigint | number): Buffer {
  const bytes: number[] = [];
  let v = BigInt(value);
  if (v < 0n) throw new Error('protobuf: negative varints are not used by the messages kubestrap sends');
  while (v > 0x7fn) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

/**
 * A message of `[field number, value]` in order (a repeated field is its number given again).
 * Booleans false are left out, as proto3 leaves out defaults.
 */
export function encode(fields: ReadonlyArray<readonly [number, FieldValue]>): Buffer {
  return Buffer.concat(fields.flatMap(([n, value]) => encodeField(n, value)));
}

function encodeField(n: number, value: FieldValue): Buffer[] {
  if (value === false) return [];
  if (typeof value === 'bigint' || typeof value === 'number' || value === true) return [varint(n << 3), varint(value === true ? 1 : value)];
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return [varint((n << 3) | 2), varint(bytes.length), bytes];
}

export function decode(buf: Buffer): Message {
  const out: Message = new Map();
  let at = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= buf.length) throw new Error('protobuf: truncated varint');
      const b = buf[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const tag = Number(readVarint());
    const field = tag >> 3;
    let value: bigint | Buffer;
    switch (tag & 7) {
      case 0:
        value = readVarint();
        break;
      case 2: {
        const len = Number(readVarint());
        if (at + len > buf.length) throw new Error('protobuf: truncated field');
        value = buf.subarray(at, at + len);
        at += len;
        break;
      }
      case 1:
        value = buf.readBigUInt64LE(at);
        at += 8;
        break;
      case 5:
        value = BigInt(buf.readUInt32LE(at));
        at += 4;
        break;
      default:
        throw new Error(`protobuf: wire type ${tag & 7} not supported`);
    }
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

/** Field readers; a field the message does not hold reads as protobuf's default. */
export const read = {
  number: (m: Message, n: number): bigint => m.get(n)?.find((v): v is bigint => typeof v === 'bigint') ?? 0n,
  text: (m: Message, n: number): string =>
    m
      .get(n)
      ?.find((v): v is Buffer => Buffer.isBuffer(v))
      ?.toString('utf8') ?? '',
  texts: (m: Message, n: number): string[] => (m.get(n) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v)).map((b) => b.toString('utf8')),
  messages: (m: Message, n: number): Message[] => (m.get(n) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v)).map(decode),
};
