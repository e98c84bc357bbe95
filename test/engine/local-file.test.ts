import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/engine/byte-budget.js';
import { HOST_RECORD_DIR, recordEntryScript, recordFileScript } from '../../src/engine/host-record.js';
import type { LocalFileResource } from '../../src/engine/resource.js';
import { uploadFile, type TransferCodec } from '../../src/engine/upload.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { useTempDir } from '../support/tmp.js';
import { diffOf, observe, shRun, shRunWithInput, stepTexts } from './support.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** This machine as the "host", with kubestrap's record folder moved into a temp folder. */
function localHost(stateDir: string): RemoteHost {
  const stats = { handshakes: 1, execs: 0, sftpOps: 0, streamedBytes: 0 };
  const move = (script: string) => script.replaceAll(HOST_RECORD_DIR, stateDir);
  return {
    name: 'local',
    stats,
    run: async (script) => shRun(move(script)),
    runWithInput: async (script, input) => shRunWithInput(move(script), input()),
    putFile: async () => ({ written: true }),
    close: async () => undefined,
  };
}

describe('localFile: large files installed from the controller', () => {
  const tmp = useTempDir();

  function setup(codec: TransferCodec = 'gzip') {
    const dir = tmp();
    const state = join(dir, 'state');
    const data = Buffer.alloc(300_000, 'kubelet binary bytes ');
    const local = join(dir, 'kubelet');
    writeFileSync(local, data);
    const encoded = join(dir, `kubelet.${codec}`);
    writeFileSync(encoded, codec === 'gzip' ? gzipSync(data) : data);
    const resource: LocalFileResource = {
      kind: 'localFile',
      path: join(dir, 'host', 'bin', 'kubelet'),
      mode: 0o755,
      owner: 'root',
      group: 'root',
      restarts: ['kubelet'],
      record: { component: 'kubelet', version: 'v1.36.0' },
      label: 'kubelet v1.36.0',
      source: { sha256: sha(data), size: data.length, transfer: { codec, file: encoded, bytes: statSync(encoded).size } },
    };
    const host = localHost(state);
    const probe = (r: LocalFileResource = resource) => observe(r, { edit: (s) => s.replaceAll(HOST_RECORD_DIR, state) });
    const apply = async (r: LocalFileResource = resource) => {
      const change = diffOf(r, probe(r));
      for (const step of change?.steps ?? []) {
        if (step.type === 'upload') await uploadFile(host, step.upload, new ByteBudget(64 * 1024));
        else if (step.type === 'script') expect(shRun(step.script.replaceAll(HOST_RECORD_DIR, state)).code).toBe(0);
      }
      return change;
    };
    return { data, resource, state, probe, apply };
  }

  it.each(['gzip', 'none'] as const)('installs a missing file (%s on the wire) with its mode, atomically, and records it', async (codec) => {
    const { data, resource, state, apply } = setup(codec);
    const change = await apply();
    expect(change!.summary).toMatch(/^install .*kubelet \(kubelet v1\.36\.0\), 293 KiB, 0755 root:root$/);
    expect(change!.restarts).toEqual(['kubelet']);
    expect(readFileSync(resource.path).equals(data)).toBe(true);
    expect(statSync(resource.path).mode & 0o7777).toBe(0o755);
    const record = readFileSync(join(state, 'installed.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(record).toEqual([
      { id: `file:${resource.path}`, sha256: resource.source.sha256, component: 'kubelet', version: 'v1.36.0', size: data.length, mtime: shRun(`stat -c %y ${resource.path}`).stdout.trim(), ctime: shRun(`stat -c %z ${resource.path}`).stdout.trim() },
    ]);
  });

  it('trusts the record while size and mtime match: nothing to do, nothing hashed', async () => {
    const { resource, probe, apply } = setup();
    await apply();
    expect(probe().split('\n')[1]).toBe('recorded');
    expect(diffOf(resource, probe())).toBeUndefined();
  });

  it('hashes a file whose mtime changed, and re-sends it when its content differs', async () => {
    const { resource, probe, apply, data } = setup();
    await apply();
    const altered = Buffer.from(data);
    altered[10] = 0x41;
    writeFileSync(resource.path, altered);
    expect(probe().split('\n')[1]).toBe(`hashed ${sha(altered)} unrecorded`);
    const change = await apply();
    expect(change!.summary).toContain('its content differs from the expected checksum');
    expect(readFileSync(resource.path).equals(data)).toBe(true);
  });

  it('only records a file that has the right content but no (or a stale) record', async () => {
    const { resource, probe, apply, data, state } = setup();
    mkdirSync(join(resource.path, '..'), { recursive: true });
    writeFileSync(resource.path, data);
    chmodSync(resource.path, 0o755);
    const change = await apply();
    expect(change!.summary).toContain("record ");
    expect(stepTexts(change).some((s) => s.startsWith('upload'))).toBe(false);
    expect(change!.restarts).toEqual([]);
    expect(existsSync(join(state, 'installed.jsonl'))).toBe(true);
    expect(probe().split('\n')[1]).toBe('recorded');
    // Same size, older mtime: the record no longer vouches for it.
    utimesSync(resource.path, new Date(2020, 1, 1), new Date(2020, 1, 1));
    expect(probe().split('\n')[1]).toBe(`hashed ${resource.source.sha256} unrecorded`);
  });

  it('hashes everything with verify, whatever the record says, and changes nothing that is right', async () => {
    const { resource, probe, apply } = setup();
    await apply();
    const verified = { ...resource, verify: true };
    expect(probe(verified).split('\n')[1]).toBe(`hashed ${resource.source.sha256} recorded`);
    expect(diffOf(verified, probe(verified))).toBeUndefined();
  });

  it('updates when another version is wanted, saying the record had another', async () => {
    const { resource, apply, probe } = setup();
    await apply();
    const other = Buffer.alloc(1000, 'v1.37');
    const file = join(tmp(), 'other');
    writeFileSync(file, other);
    const wanted: LocalFileResource = { ...resource, source: { sha256: sha(other), size: other.length, transfer: { codec: 'none', file, bytes: other.length } } };
    // The record says the host holds the old version as it is now: replaced without reading it.
    expect(probe(wanted).split('\n')[1]).toBe('other');
    const change = await apply(wanted);
    expect(change!.summary).toContain('kubestrap installed another version');
    expect(readFileSync(resource.path).equals(other)).toBe(true);
  });

  it('fixes mode alone without sending the file, and keeps the record valid', async () => {
    const { resource, apply, probe } = setup();
    await apply();
    chmodSync(resource.path, 0o700);
    const change = await apply();
    expect(change!.summary).toContain('to 0755 root:root (was 0700 root:root)');
    expect(stepTexts(change).some((s) => s.startsWith('upload'))).toBe(false);
    expect(statSync(resource.path).mode & 0o7777).toBe(0o755);
    expect(probe().split('\n')[1]).toBe('recorded');
  });

  it('refuses a transfer cut short and leaves the old file in place', async () => {
    const { resource, state } = setup('none');
    mkdirSync(join(resource.path, '..'), { recursive: true });
    writeFileSync(resource.path, 'old');
    const host = localHost(state);
    const upload = { path: resource.path, mode: 0o755, owner: 'root', group: 'root', size: resource.source.size + 5, sha256: resource.source.sha256, transfer: resource.source.transfer, record: {} };
    await expect(uploadFile(host, upload)).rejects.toThrow(/installing .* failed/);
    await uploadFile(host, upload).catch((e: { details: { stderrTail: string } }) => expect(e.details.stderrTail).toContain('the transfer was cut short'));
    expect(readFileSync(resource.path, 'utf8')).toBe('old');
    expect(shRun(`ls -a ${join(resource.path, '..')}`).stdout.trim().split('\n').sort()).toEqual(['.', '..', 'kubelet']);
  });
});

describe("kubestrap's record on the host", () => {
  const tmp = useTempDir();

  it('keeps one line per entry, any kind of entry, each line JSON', () => {
    const state = join(tmp(), 'state');
    const run = (script: string) => expect(shRun(script.replaceAll(HOST_RECORD_DIR, state)).code).toBe(0);
    const file = join(tmp(), 'f');
    writeFileSync(file, 'x');
    run(recordFileScript(file, { sha256: sha(Buffer.from('x')), component: 'x' }));
    run(recordEntryScript('version:etcd', { version: 'v3.6.16' }));
    run(recordEntryScript('version:etcd', { version: 'v3.6.17' }));
    const lines = readFileSync(join(state, 'installed.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string });
    expect(lines.map((l) => l.id)).toEqual([`file:${file}`, 'version:etcd']);
    expect(lines[1]).toEqual({ id: 'version:etcd', version: 'v3.6.17' });
  });
});
