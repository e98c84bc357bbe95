import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reconcilePki } from '../../src/pki/reconcile.js';
import { PkiStore } from '../../src/pki/store.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { PKI_INVENTORY } from './support.js';

const mode = (path: string) => statSync(path).mode & 0o777;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [join(dir, e.name), ...walk(join(dir, e.name))] : [join(dir, e.name)]));
}

describe('PkiStore', () => {
  const tmp = useTempDir();

  it('keeps folders 0700, keys 0600 and certificates 0644 whatever the umask', async () => {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    const store = new PkiStore(join(tmp(), 'pki'));
    const previous = process.umask(0o000);
    try {
      await (await reconcilePki(spec, store, { now: new Date() })).persist();
    } finally {
      process.umask(previous);
    }
    const entries = [store.dir, ...walk(store.dir)];
    expect(entries.filter((p) => statSync(p).isDirectory()).map(mode)).toEqual(expect.arrayContaining([0o700]));
    for (const p of entries) {
      const expected = statSync(p).isDirectory() ? 0o700 : p.endsWith('.key') ? 0o600 : 0o644;
      expect([p, mode(p)]).toEqual([p, expected]);
    }
    expect(entries.some((p) => p.endsWith('/kubelet/w1.key'))).toBe(true);
    expect(entries.filter((p) => p.endsWith('.tmp'))).toEqual([]);
  });

  it('narrows a folder that was made wider to 0700 when it writes into it', async () => {
    const store = new PkiStore(join(tmp(), 'pki'));
    await store.writeAll([['kubelet/n1', { certPem: 'c', keyPem: 'k' }]]);
    chmodSync(store.dir, 0o755);
    await store.writeAll([['kubelet/n2', { certPem: 'c', keyPem: 'k' }]]);
    expect(mode(store.dir)).toBe(0o700);
    expect(store.read('kubelet/n2')).toEqual({ certPem: 'c', keyPem: 'k' });
  });

  it('refuses a store that others may write: they could plant a CA', async () => {
    const spec = clusterFrom(tmp(), '', PKI_INVENTORY);
    const store = new PkiStore(join(tmp(), 'pki'));
    await store.writeAll([['ca', { certPem: 'c', keyPem: 'k' }]]);
    chmodSync(store.dir, 0o777);
    await expect(reconcilePki(spec, store, { now: new Date() })).rejects.toThrow(/is writable by its group \(mode 0777\)/);
  });

  it('replaces a file whole: a reader sees the old content or the new, never a mix', async () => {
    const store = new PkiStore(join(tmp(), 'pki'));
    await store.writeAll([['admin', { certPem: 'old cert', keyPem: 'old key' }]]);
    await store.writeAll([['admin', { certPem: 'new cert', keyPem: 'new key' }]]);
    expect(store.read('admin')).toEqual({ certPem: 'new cert', keyPem: 'new key' });
    expect(readdirSync(store.dir).sort()).toEqual(['admin.crt', 'admin.key']);
  });
});
