import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HOST_RECORD_DIR, recordEntryScript, recordFileScript, recordUploadsScript, type RecordedUpload } from '../../src/engine/host-record.js';
import { parseProbe, probeScript } from '../../src/engine/probe.js';
import { resourceId, type LocalFileResource } from '../../src/engine/resource.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { sourceOf, type StreamSource } from '../../src/ssh/stream-source.js';
import { ByteBudget } from '../../src/transfer/byte-budget.js';
import type { TransferCodec } from '../../src/transfer/transfer-codec.js';
import { uploadFiles as installFiles } from '../../src/transfer/upload.js';
import { useTempDir } from '../support/tmp.js';
import { debianCtx, diffOf, encodeAs, hostHere, observe, shRun, shRunWithInput, stepTexts } from './support.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** uploadFiles as the engine's apply runs it: the install then records the files in the host's record. */
const uploadFiles = (host: RemoteHost, uploads: readonly RecordedUpload[], budget?: ByteBudget) => installFiles(host, uploads, budget, recordUploadsScript);

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
    const host = hostHere(state);
    const probe = (r: LocalFileResource = resource) => observe(r, { edit: (s) => s.replaceAll(HOST_RECORD_DIR, state) });
    const apply = async (r: LocalFileResource = resource) => {
      const change = diffOf(r, probe(r));
      for (const step of change?.steps ?? []) {
        if (step.type === 'upload') await uploadFiles(host, [step.upload], new ByteBudget(64 * 1024));
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
    const record = readFileSync(join(state, 'installed.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(record).toEqual([
      {
        id: `file:${resource.path}`,
        sha256: resource.source.sha256,
        component: 'kubelet',
        version: 'v1.36.0',
        size: data.length,
        mtime: shRun(`stat -c %y ${resource.path}`).stdout.trim(),
        ctime: shRun(`stat -c %z ${resource.path}`).stdout.trim(),
      },
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
    expect(change!.summary).toContain('record ');
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

  it('refuses a transfer cut short on the way and leaves the old file in place', async () => {
    const { resource, state } = setup('none');
    mkdirSync(join(resource.path, '..'), { recursive: true });
    writeFileSync(resource.path, 'old');
    // The host gets the first 100,000 bytes, then the end of its input.
    const cut: RemoteHost = { ...hostHere(state), runWithInput: async (script, input) => shRunWithInput(script.replaceAll(HOST_RECORD_DIR, state), firstBytes(sourceOf(input()), 100_000)) };
    const upload = { path: resource.path, mode: 0o755, owner: 'root', group: 'root', size: resource.source.size, sha256: resource.source.sha256, transfer: resource.source.transfer, record: {} };
    const err = await uploadFiles(cut, [upload]).catch((e: unknown) => e as { message: string; details: { resource: string; stderrTail: string } });
    expect(err?.message).toContain(`installing ${resource.path} failed`);
    expect(err?.details.stderrTail).toMatch(/Unexpected EOF/);
    expect(readFileSync(resource.path, 'utf8')).toBe('old');
    expect(
      shRun(`ls -a ${join(resource.path, '..')}`)
        .stdout.trim()
        .split('\n')
        .sort(),
    ).toEqual(['.', '..', 'kubelet']);
  });

  it('sends nothing more of a local file that is not the length it was, and names it', async () => {
    const { resource, state } = setup('none');
    mkdirSync(join(resource.path, '..'), { recursive: true });
    writeFileSync(resource.path, 'old');
    const upload = { path: resource.path, mode: 0o755, owner: 'root', group: 'root', size: resource.source.size + 5, sha256: resource.source.sha256, transfer: resource.source.transfer, record: {} };
    const err = await uploadFiles(hostHere(state), [upload]).catch((e: unknown) => e as { message: string; details: { resource: string } });
    expect(err?.details.resource).toBe(`file:${resource.path}`);
    expect(err?.message).toContain(`the local file ${resource.source.transfer.file} gave 300000 of 300005 bytes`);
    expect(readFileSync(resource.path, 'utf8')).toBe('old');
    expect(
      shRun(`ls -a ${join(resource.path, '..')}`)
        .stdout.trim()
        .split('\n')
        .sort(),
    ).toEqual(['.', '..', 'kubelet']);
  });
});

/** The first `bytes` of a source, then its end, as a connection cut on the way would leave it. */
function firstBytes(source: StreamSource, bytes: number): StreamSource {
  return async (write) => {
    let left = bytes;
    await source(async (chunk) => {
      if (left <= 0) return;
      const part = chunk.subarray(0, left);
      left -= part.length;
      await write(part);
    });
  };
}

describe('uploadFiles: many files, one command', () => {
  const tmp = useTempDir();

  /** Files of different sizes in one codec for two target folders, with a host that counts its commands. */
  function setup(codec: TransferCodec = 'gzip') {
    const dir = tmp();
    const state = join(dir, 'state');
    let commands = 0;
    const host: RemoteHost = {
      ...hostHere(state),
      runWithInput: async (script, input) => {
        commands++;
        return shRunWithInput(script.replaceAll(HOST_RECORD_DIR, state), input());
      },
    };
    const make = (name: string, target: string, bytes: number, codec: TransferCodec): { upload: RecordedUpload; data: Buffer } => {
      const data = Buffer.alloc(bytes, `${name} `);
      const encoded = join(dir, `${name}.${codec}`);
      writeFileSync(encoded, encodeAs(codec, data));
      const upload: RecordedUpload = {
        path: join(dir, target, name),
        mode: name === 'portmap' ? 0o700 : 0o755,
        owner: 'root',
        group: 'root',
        size: data.length,
        sha256: sha(data),
        transfer: { codec, file: encoded, bytes: statSync(encoded).size },
        record: { component: name },
      };
      return { upload, data };
    };
    const files = [
      make('kubelet', 'kube/bin', 700_000, codec),
      make('etcd', 'kube/bin', 1, codec),
      make('empty', 'kube/bin', 0, codec),
      make('portmap', 'cni/bin', 90_000, codec),
      make('bridge', 'cni/bin', 5_000, codec),
    ];
    return { dir, state, host, files, make, commands: () => commands };
  }

  it.each(['gzip', 'zstd', 'none'] as const)('installs files for several folders in one command (%s), each with its mode, no stage left, all recorded', async (codec) => {
    const { dir, state, host, files, commands } = setup(codec);
    await uploadFiles(
      host,
      files.map((f) => f.upload),
      new ByteBudget(64 * 1024),
    );
    expect(commands()).toBe(1);
    for (const { upload, data } of files) {
      expect(readFileSync(upload.path).equals(data)).toBe(true);
      expect(statSync(upload.path).mode & 0o7777).toBe(upload.mode);
    }
    expect(shRun(`ls -A ${join(dir, 'kube/bin')} ${join(dir, 'cni/bin')}`).stdout).not.toContain('.kubestrap');
    const record = readFileSync(join(state, 'installed.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; sha256: string; size: number; component: string });
    expect(record.map((r) => [r.id, r.sha256, r.size, r.component])).toEqual(files.map(({ upload }) => [`file:${upload.path}`, upload.sha256, upload.size, upload.record.component]));
  });

  it('keeps other entries of the record and replaces the entries of files sent again', async () => {
    const { state, host, files } = setup();
    const run = (script: string) => expect(shRun(script.replaceAll(HOST_RECORD_DIR, state)).code).toBe(0);
    run(recordEntryScript('version:etcd', { version: 'v3.6.16' }));
    await uploadFiles(
      host,
      files.map((f) => f.upload),
    );
    await uploadFiles(
      host,
      files.slice(0, 2).map((f) => f.upload),
    );
    const ids = readFileSync(join(state, 'installed.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids.sort()).toEqual(['version:etcd', ...files.map((f) => `file:${f.upload.path}`)].sort());
  });

  it('reads every file through the same two buffers, holding budget only until the channel takes a chunk', async () => {
    const { state, files: small, make } = setup('none');
    // 3.5 MiB sent as is: four reads of it alone.
    const files = [...small, make('kube-apiserver', 'kube/bin', 3.5 * 1024 * 1024, 'none')];
    const budget = new ByteBudget(4 * 1024 * 1024);
    const buffers = new Set<ArrayBufferLike>();
    let chunks = 0;
    let most = 0;
    const host: RemoteHost = {
      ...hostHere(state),
      runWithInput: async (script, input) => {
        const source = sourceOf(input());
        const watched: StreamSource = (write) =>
          source(async (chunk) => {
            // The files' bytes come through the two 1 MiB buffers; tar headers are small pieces of their own.
            if (chunk.buffer.byteLength === 1024 * 1024) {
              chunks++;
              buffers.add(chunk.buffer);
            }
            most = Math.max(most, budget.inFlight);
            await write(chunk);
          });
        return shRunWithInput(script.replaceAll(HOST_RECORD_DIR, state), watched);
      },
    };
    await uploadFiles(
      host,
      files.map((f) => f.upload),
      budget,
    );
    expect(chunks).toBe(8);
    expect(buffers.size).toBe(2);
    expect(most).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(budget.inFlight).toBe(0);
    for (const { upload, data } of files) expect(readFileSync(upload.path).equals(data)).toBe(true);
  });

  it('installs none of the files when one is not the length it was, names it, and removes the stage folders', async () => {
    const { dir, host, files } = setup('none');
    const short = files.map((f, i) => (i === 3 ? { ...f.upload, size: f.upload.size + 1 } : f.upload));
    const err = await uploadFiles(host, short).catch((e: unknown) => e as { message: string; details: { resource: string } });
    expect(err?.details.resource).toBe(`file:${files[3]!.upload.path}`);
    expect(err?.message).toContain(`gave ${files[3]!.upload.size} of ${files[3]!.upload.size + 1} bytes`);
    for (const { upload } of files) expect(existsSync(upload.path)).toBe(false);
    expect(shRun(`ls -A ${join(dir, 'kube/bin')} ${join(dir, 'cni/bin')}`).stdout).not.toContain('.kubestrap');
  });

  it('fails a stream that does not decode, names the file where it stopped, and installs nothing', async () => {
    const { dir, host, files } = setup('zstd');
    writeFileSync(files[1]!.upload.transfer.file, Buffer.alloc(files[1]!.upload.transfer.bytes, 1));
    const err = await uploadFiles(
      host,
      files.map((f) => f.upload),
    ).catch((e: unknown) => e as { message: string; details: { resource: string } });
    expect(err?.message).toMatch(/ failed: zstd could not decode the transfer \(exit 1\)$/);
    expect(err?.details.resource).toBe(`file:${files[1]!.upload.path}`);
    for (const { upload } of files) expect(existsSync(upload.path)).toBe(false);
    expect(shRun(`ls -A ${join(dir, 'kube/bin')} ${join(dir, 'cni/bin')}`).stdout).not.toContain('.kubestrap');
  });

  it('installs into folders whose names need quoting (a space, a quote, a dollar)', async () => {
    const { host, make } = setup('none');
    const files = [make('kubelet', "my bin's $HOME", 3_000, 'none'), make('bridge', 'cni `x`', 10, 'none')];
    await uploadFiles(
      host,
      files.map((f) => f.upload),
    );
    for (const { upload, data } of files) expect(readFileSync(upload.path).equals(data)).toBe(true);
    expect(readdirSync(join(files[0]!.upload.path, '..'))).toEqual(['kubelet']);
  });

  it('sends files of different codecs in a command each', async () => {
    const { files, host, commands, make } = setup('gzip');
    const raw = [make('etcdctl', 'kube/bin', 10, 'none'), make('flannel', 'cni/bin', 2_000, 'none')];
    await uploadFiles(
      host,
      [...files, ...raw].map((f) => f.upload),
    );
    expect(commands()).toBe(2);
    for (const { upload, data } of [...files, ...raw]) expect(readFileSync(upload.path).equals(data)).toBe(true);
  });

  it('refuses to write into a folder that stands where a file should be', async () => {
    const { host, files } = setup();
    mkdirSync(files[1]!.upload.path, { recursive: true });
    const err = await uploadFiles(
      host,
      files.map((f) => f.upload),
    ).catch((e: unknown) => e as { hint: string });
    expect(err?.hint).toContain('is a directory on the host');
    expect(shRun(`ls -A ${files[1]!.upload.path}`).stdout.trim()).toBe('');
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
    const lines = readFileSync(join(state, 'installed.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string });
    expect(lines.map((l) => l.id)).toEqual([`file:${file}`, 'version:etcd']);
    expect(lines[1]).toEqual({ id: 'version:etcd', version: 'v3.6.17' });
  });
});

describe("localFile probes: all of a host's files at once", () => {
  const tmp = useTempDir();

  it("reads each file's state from one stat and one read of the record, whatever their number", async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    const host = hostHere(state);
    const data = Buffer.from('binary');
    const source = join(dir, 'source');
    writeFileSync(source, data);
    const at = (name: string): LocalFileResource => ({
      kind: 'localFile',
      path: join(dir, 'bin', name),
      mode: 0o755,
      owner: 'root',
      group: 'root',
      restarts: [],
      record: { component: name },
      source: { sha256: sha(data), size: data.length, transfer: { codec: 'none', file: source, bytes: data.length } },
    });
    const names = ['recorded', 'changed', 'absent', 'folder', 'link', 'empty', 'with space', 'recorded-prefix'];
    const rs = names.map(at);
    await uploadFiles(
      host,
      [rs[0]!, rs[1]!, rs[7]!].map((r) => ({
        path: r.path,
        mode: r.mode,
        owner: r.owner,
        group: r.group,
        size: r.source.size,
        sha256: r.source.sha256,
        transfer: r.source.transfer,
        record: r.record ?? {},
      })),
    );
    writeFileSync(rs[1]!.path, 'changed!');
    mkdirSync(rs[3]!.path);
    symlinkSync(rs[0]!.path, rs[4]!.path);
    writeFileSync(rs[5]!.path, '');
    writeFileSync(rs[6]!.path, data);
    const script = probeScript(rs, debianCtx).replaceAll(HOST_RECORD_DIR, state);
    expect(script.match(/\bstat\b/g)).toHaveLength(1);
    const observed = parseProbe(shRun(script).stdout, rs).observed;
    const own = shRun(`stat -c '%a %U %G' ${rs[0]!.path}`).stdout.trim();
    const fresh = (name: string) => shRun(`stat -c '%a %U %G' '${join(dir, 'bin', name)}'`).stdout.trim();
    expect(rs.map((r) => observed.get(resourceId(r)))).toEqual([
      `${own}\nrecorded`,
      `${own}\nhashed ${sha(Buffer.from('changed!'))} unrecorded`,
      'absent',
      'other-type',
      'other-type',
      `${fresh('empty')}\nhashed ${sha(Buffer.alloc(0))} unrecorded`,
      `${fresh('with space')}\nhashed ${sha(data)} unrecorded`,
      `${own}\nrecorded`,
    ]);
  });
});
