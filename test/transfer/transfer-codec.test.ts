import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inlineFrame } from '../../src/transfer/transfer-codec.js';

const unzstd = (bytes: Buffer) => execFileSync('zstd', ['-dcq'], { input: bytes, maxBuffer: 16 * 1024 * 1024 });

describe('inlineFrame: small pieces between encoded files', () => {
  it.each([0, 1, 512, 128 * 1024, 128 * 1024 + 1, 300_000])('makes a zstd frame of %i bytes that the zstd tool decodes', (size) => {
    const data = randomBytes(size);
    expect(unzstd(inlineFrame('zstd', data)).equals(data)).toBe(true);
  });

  it("joins zstd frames and the tool's own encodings into one stream", () => {
    const a = randomBytes(1000);
    const b = Buffer.alloc(200_000, 'kubelet ');
    const encoded = execFileSync('zstd', ['-q', '-3', '-c'], { input: b });
    expect(unzstd(Buffer.concat([inlineFrame('zstd', a), encoded, inlineFrame('zstd', a)])).equals(Buffer.concat([a, b, a]))).toBe(true);
  });

  it('makes gzip members (gzip -dc reads them one after the other) and passes bytes through for none', () => {
    const data = randomBytes(5000);
    expect(gunzipSync(inlineFrame('gzip', data)).equals(data)).toBe(true);
    expect(execFileSync('gzip', ['-dc'], { input: Buffer.concat([inlineFrame('gzip', data), inlineFrame('gzip', data)]) }).equals(Buffer.concat([data, data]))).toBe(true);
    expect(inlineFrame('none', data)).toBe(data);
  });
});
