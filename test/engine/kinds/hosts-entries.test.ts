import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostsEntriesResource } from '../../../src/engine/resource.js';
import { sha256 } from '../../../src/engine/kinds/file.js';
import { withHostsBlock } from '../../../src/engine/kinds/hosts-entries.js';
import { useTempDir } from '../../support/tmp.js';
import { diffOf, observe } from '../support.js';

const BEGIN = '# BEGIN kubestrap cluster hosts (managed: edits inside this block are overwritten)';
const END = '# END kubestrap cluster hosts';
const entries = [
  { ip: '10.0.0.11', names: ['m1'] },
  { ip: '10.0.0.12', names: ['w1', 'w1.lab'] },
];
const BLOCK = `${BEGIN}\n10.0.0.11 m1\n10.0.0.12 w1 w1.lab\n${END}`;
const resource: HostsEntriesResource = { kind: 'hostsEntries', entries };

describe('withHostsBlock', () => {
  it('appends the block to a file that ends with a newline', () => {
    expect(withHostsBlock('127.0.0.1 localhost\n', entries)).toBe(`127.0.0.1 localhost\n${BLOCK}\n`);
  });

  it('adds the missing newline before appending', () => {
    expect(withHostsBlock('127.0.0.1 localhost', entries)).toBe(`127.0.0.1 localhost\n${BLOCK}\n`);
  });

  it('writes only the block into an empty file', () => {
    expect(withHostsBlock('', entries)).toBe(`${BLOCK}\n`);
  });

  it('replaces an existing block in place and keeps every line outside it', () => {
    const current = `127.0.0.1 localhost\n${BEGIN}\n10.0.0.99 old\n${END}\n::1 localhost ip6-localhost\n`;
    expect(withHostsBlock(current, entries)).toBe(`127.0.0.1 localhost\n${BLOCK}\n::1 localhost ip6-localhost\n`);
  });

  it('drops a BEGIN line left without its END instead of swallowing the lines after it', () => {
    const current = `127.0.0.1 localhost\n${BEGIN}\n10.0.0.99 old\n::1 localhost ip6-localhost\n`;
    const once = withHostsBlock(current, entries);
    expect(once).toBe(`127.0.0.1 localhost\n10.0.0.99 old\n::1 localhost ip6-localhost\n${BLOCK}\n`);
    expect(withHostsBlock(once, entries)).toBe(once);
  });

  it('is stable: applying it twice changes nothing', () => {
    const once = withHostsBlock('127.0.0.1 localhost\n', entries);
    expect(withHostsBlock(once, entries)).toBe(once);
  });
});

describe('hostsEntries kind', () => {
  it('has nothing to do when the block is current', () => {
    expect(diffOf(resource, `127.0.0.1 localhost\n${BLOCK}\n@@end`)).toBeUndefined();
  });

  it('writes /etc/hosts with the block, giving the current hash for the upload and the diff', () => {
    const current = '127.0.0.1 localhost\n';
    const c = diffOf(resource, `${current}@@end`);
    expect(c?.summary).toBe('/etc/hosts: 2 cluster host entries');
    expect(c?.steps).toEqual([{ type: 'put', path: '/etc/hosts', content: `${current}${BLOCK}\n`, mode: 0o644, owner: 'root', group: 'root', currentSha256: sha256(current) }]);
    expect(c?.file).toEqual({ path: '/etc/hosts', currentSha256: sha256(current), desired: `${current}${BLOCK}\n`, secret: false });
  });

  it('says "entry" for one host', () => {
    expect(diffOf({ kind: 'hostsEntries', entries: [entries[0]!] }, '@@end')?.summary).toBe('/etc/hosts: 1 cluster host entry');
  });

  describe('real probe on a copy of /etc/hosts', () => {
    const tmp = useTempDir();

    it.each([
      ['with', '127.0.0.1 localhost\n'],
      ['without', '127.0.0.1 localhost'],
    ])('keeps the file exactly, %s its last newline, and converges after writing', (_, content) => {
      const path = join(tmp(), 'hosts');
      writeFileSync(path, content);
      const edit = (s: string) => s.replace('/etc/hosts', path);
      const observed = observe(resource, { edit });
      expect(observed).toBe(`${content}@@end`);
      const c = diffOf(resource, observed);
      expect(c?.file?.currentSha256).toBe(sha256(readFileSync(path)));
      writeFileSync(path, c!.file!.desired);
      expect(readFileSync(path, 'utf8')).toBe(`127.0.0.1 localhost\n${BLOCK}\n`);
      expect(diffOf(resource, observe(resource, { edit }))).toBeUndefined();
    });
  });
});
