import { describe, expect, it } from 'vitest';
import { downloadProgress } from '../../../src/cli/output/download-progress.js';

describe('downloadProgress', () => {
  it('says which URL it downloaded, escaped: it comes from a manifest or the config', () => {
    const lines: string[] = [];
    const progress = downloadProgress({ line: (text) => lines.push(text) });
    const url = 'https://mirror.example/etcd\x1b[2J\rdone\u202e';
    progress.started(url, 10);
    progress.advanced(10);
    progress.finished(url);
    expect(lines).toEqual(['downloaded https://mirror.example/etcd\\x1b[2J\\x0ddone\\u202e (10 B)']);
  });
});
