import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { TAR_BLOCK, tarFileHeader, tarPadding } from '../../src/transfer/tar-header.js';
import type { TransferCodec } from '../../src/transfer/transfer-codec.js';
import { uploadFiles, type Upload } from '../../src/transfer/upload.js';
import { formatKnownHostsLine } from '../../src/ssh/known-hosts.js';
import { shq } from '../../src/ssh/quote.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { clientKeyFile, keyPair, pool, target } from '../ssh/support/fixtures.js';
import { startTestServer, type TestServer } from '../ssh/support/test-server.js';
import { useTempDir } from '../support/tmp.js';
import { encodeAs, hostHere } from '../engine/support.js';

/**
 * Whoever can write one cached encoding decides the bytes it decodes to: past its file's end, they
 * can be any tar members. Each hostile encoding here goes through uploadFiles to a host that runs
 * the real tar and decoder (sh on this machine, and bash behind a real SSH server), and must fail
 * the upload naming its file, with nothing installed and nothing written outside the stage folders.
 */

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A tar member as an attacker would write it: any name, type and link (GNU tar's own field layout). */
function member(m: { name: string; type?: string; link?: string; data?: Buffer; device?: [number, number] }): Buffer {
  const data = m.data ?? Buffer.alloc(0);
  const header = Buffer.from(tarFileHeader({ path: m.name, size: m.type && m.type !== '0' && m.type !== 'K' ? 0 : data.length, mode: 0o755, mtime: 0 }));
  header.write(m.type ?? '0', 156, 1, 'ascii');
  if (m.link) header.write(m.link, 157, 100, 'utf8');
  if (m.device) {
    header.write(`${m.device[0].toString(8).padStart(7, '0')}\u0000`, 329, 8, 'ascii');
    header.write(`${m.device[1].toString(8).padStart(7, '0')}\u0000`, 337, 8, 'ascii');
  }
  header.fill(' ', 148, 156);
  header.write(
    `${header
      .reduce((n, b) => n + b, 0)
      .toString(8)
      .padStart(6, '0')}\u0000 `,
    148,
    8,
    'ascii',
  );
  const body = m.type && m.type !== '0' && m.type !== 'K' ? Buffer.alloc(0) : data;
  return Buffer.concat([header, body, tarPadding(body.length)]);
}

/** What a hostile encoding decodes to past its file's bytes. */
type Payload = (p: { root: string; dir: string; name: string }) => Buffer;

/**
 * A payload after a file of `size` bytes, lined up as an attacker would: tar takes the bytes after
 * the file up to a block as its padding, and the padding kubestrap sends after the encoding ends the
 * payload's last block (which ends in zeros, else a zero block is added), so the next header
 * kubestrap sends is on a block too. A payload of part of a block is left as it is.
 */
function lineUp(size: number, payload: Buffer): Buffer {
  const padding = tarPadding(size);
  if (payload.length % TAR_BLOCK !== 0) return Buffer.concat([padding, payload]);
  const ending = payload.subarray(payload.length - padding.length).every((b) => b === 0) ? payload : Buffer.concat([payload, Buffer.alloc(TAR_BLOCK)]);
  return Buffer.concat([padding, ending.subarray(0, ending.length - padding.length)]);
}

const PWNED = Buffer.from('pwned\n');

const LONG_LINK = 'a GNU long-link header';

const PAYLOADS: Record<string, Payload> = {
  'a member with an absolute name': ({ root }) => member({ name: join(root, 'outside'), data: PWNED }),
  "a member whose name climbs out with '..'": () => member({ name: '../../outside', data: PWNED }),
  'the target itself, by its absolute name': ({ dir, name }) => member({ name: join(dir, name), data: PWNED }),
  'a second copy of an expected member, by the names it might have': ({ name }) =>
    Buffer.concat([name, `./${name}`, `.kubestrap-upload-000000000000/${name}`].map((n) => member({ name: n, data: PWNED }))),
  'a symlink out of the folder, then a file through it': ({ root }) =>
    Buffer.concat([member({ name: 'elsewhere-link', type: '2', link: join(root, 'elsewhere') }), member({ name: 'elsewhere-link/pwned', data: PWNED })]),
  'a symlink where the target goes': ({ root, dir, name }) => member({ name: join(dir, name), type: '2', link: join(root, 'canary') }),
  'a stage folder replaced by a symlink': ({ root, dir }) => member({ name: join(dir, '.kubestrap-upload-000000000000'), type: '2', link: join(root, 'elsewhere') }),
  'a hard link to a file outside, then a file over it': ({ root }) => Buffer.concat([member({ name: 'hard', type: '1', link: join(root, 'canary') }), member({ name: 'hard', data: PWNED })]),
  'a device node': ({ root }) => member({ name: join(root, 'null'), type: '3', device: [1, 3] }),
  'zero blocks': () => Buffer.alloc(2 * TAR_BLOCK),
  '100 bytes that are no tar header': () => Buffer.alloc(100, 0x41),
  // tar lists the member after it at the block it would have had: only the count of blocks read tells.
  [LONG_LINK]: () => member({ name: '././@LongLink', type: 'K', data: Buffer.from(`${'x'.repeat(600)}\u0000`) }),
};

/** Every path below `root` with its type (and a regular file's size): what must not change. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const type = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? `file ${st.size}` : 'other';
      out.push(`${path} ${type}`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

/** Runs every script in `cwd` (a '..' name climbs from there as from a target folder). */
function confined(host: RemoteHost, cwd: string): RemoteHost {
  const edit = (script: string) => `cd -- ${shq(cwd)}\n${script}`;
  return { ...host, run: (script, opts) => host.run(edit(script), opts), runWithInput: (script, input, opts) => host.runWithInput(edit(script), input, opts) };
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** This machine behind a real SSH server (ssh2's server, commands run by bash), logged in as root. */
async function overSsh(dir: string): Promise<RemoteHost> {
  const hostKey = keyPair('ed25519');
  const client = await clientKeyFile(dir);
  server = await startTestServer({ hostKeys: [hostKey.private], users: { root: { publicKey: client.pair.public } } });
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `${formatKnownHostsLine('127.0.0.1', server.port, hostKey.blob)}\n`);
  return pool({ knownHostsFile: knownHosts }).pool.connect(target(server.port, { auth: { keyFile: client.file } }));
}

const HOSTS: Record<string, (dir: string) => Promise<RemoteHost>> = {
  'sh on this machine': async (dir) => hostHere(join(dir, 'unused')),
  'bash behind an SSH server': overSsh,
};

describe('uploadFiles: an encoding that decodes to other than its file', () => {
  const tmp = useTempDir();

  /**
   * Three files for two folders; the one at `position` is sent as an encoding of its bytes followed
   * by `extra`. The root also holds a canary file and a folder that attacks aim at.
   */
  async function setup(opts: { host: string; codec: TransferCodec; position: number; extra: Payload; cut?: number }) {
    const root = tmp();
    const cwd = join(root, 'cwd', 'here');
    for (const d of ['kube/bin', 'cni/bin', 'elsewhere', 'sources', 'cwd/here']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'canary'), 'canary\n');
    const specs: Array<[string, string, number]> = [
      ['kubelet', 'kube/bin', 70_000],
      ['portmap', 'cni/bin', 3_000],
      ['etcd', 'kube/bin', 10_001],
    ];
    const uploads = specs.map(([name, folder, bytes], i): Upload => {
      const data = Buffer.alloc(bytes, `${name} `);
      const dir = join(root, folder);
      const decoded = i === opts.position ? Buffer.concat([data, lineUp(data.length, opts.extra({ root, dir, name }))]).subarray(0, opts.cut) : data;
      const file = join(root, 'sources', `${name}.${opts.codec}`);
      const encoded = encodeAs(opts.codec, decoded);
      writeFileSync(file, encoded);
      return { path: join(dir, name), mode: 0o755, owner: 'root', group: 'root', size: data.length, sha256: sha(data), transfer: { codec: opts.codec, file, bytes: encoded.length } };
    });
    const host = confined(await HOSTS[opts.host]!(tmp()), cwd);
    return { root, uploads, host, before: tree(root), evil: uploads[opts.position]! };
  }

  /** The upload fails naming `culprit`, and nothing below the root changed: nothing installed, written or left behind. */
  async function refused(s: Awaited<ReturnType<typeof setup>>, says: RegExp, culprit = s.evil): Promise<HostError> {
    const err = await uploadFiles(s.host, s.uploads).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostError);
    const e = err as HostError;
    expect(e.details.resource).toBe(`file:${culprit.path}`);
    expect(e.message).toMatch(says);
    expect(tree(s.root)).toEqual(s.before);
    expect(readFileSync(join(s.root, 'canary'), 'utf8')).toBe('canary\n');
    return e;
  }

  const more = (u: Upload) => new RegExp(`${u.path}: its encoding ${u.transfer.file} decodes to more than the file's ${u.size} bytes; nothing was installed`);

  for (const host of Object.keys(HOSTS)) {
    describe(host, () => {
      it.each(Object.keys(PAYLOADS))('refuses a last file followed by %s', async (payload) => {
        const s = await setup({ host, codec: 'zstd', position: 2, extra: PAYLOADS[payload]! });
        await refused(s, more(s.evil));
      });
    });
  }

  it.each(Object.keys(PAYLOADS).filter((p) => p !== LONG_LINK))('refuses a first file followed by %s, before the files after it', async (payload) => {
    const s = await setup({ host: 'sh on this machine', codec: 'zstd', position: 0, extra: PAYLOADS[payload]! });
    await refused(s, more(s.evil));
  });

  it('refuses a first file followed by a GNU long-link header, though tar then lists the next file where it belongs and so gets the blame', async () => {
    const s = await setup({ host: 'sh on this machine', codec: 'zstd', position: 0, extra: PAYLOADS[LONG_LINK]! });
    await refused(s, more(s.uploads[1]!), s.uploads[1]);
  });

  it.each(['a member with an absolute name', 'zero blocks', '100 bytes that are no tar header'])('refuses it with gzip as well: a file followed by %s', async (payload) => {
    const s = await setup({ host: 'sh on this machine', codec: 'gzip', position: 1, extra: PAYLOADS[payload]! });
    await refused(s, more(s.evil));
  });

  it('refuses an encoding that decodes to fewer bytes than its file, naming it', async () => {
    const s = await setup({ host: 'sh on this machine', codec: 'zstd', position: 1, extra: () => Buffer.alloc(0), cut: 3_000 - TAR_BLOCK });
    const err = await refused(s, new RegExp(`${s.evil.path}: fewer than its 3000 bytes arrived`));
    expect(err.hint).toContain(s.evil.transfer.file);
  });
});

describe('uploadFiles through a real SSH server', () => {
  const tmp = useTempDir();

  it('installs the files of two folders in one command, each with its mode, with no stage folder left', async () => {
    const root = tmp();
    const host = confined(await overSsh(root), root);
    const files = [
      ['kube/bin/kubelet', 300_000, 'zstd'],
      ['kube/bin/etcd', 1, 'zstd'],
      ['cni/bin/portmap', 9_000, 'zstd'],
    ] as const;
    const uploads = files.map(([rel, bytes, codec], i): Upload => {
      const data = Buffer.alloc(bytes, rel);
      const file = join(root, `${i}.${codec}`);
      const encoded = encodeAs(codec, data);
      writeFileSync(file, encoded);
      return { path: join(root, rel), mode: i === 2 ? 0o700 : 0o755, owner: 'root', group: 'root', size: bytes, sha256: sha(data), transfer: { codec, file, bytes: encoded.length } };
    });
    await uploadFiles(host, uploads);
    expect(server!.commands).toHaveLength(1);
    for (const [i, u] of uploads.entries()) {
      expect(readFileSync(u.path).equals(Buffer.alloc(files[i]![1], files[i]![0]))).toBe(true);
      expect(lstatSync(u.path).mode & 0o7777).toBe(u.mode);
    }
    expect([...readdirSync(join(root, 'kube/bin')), ...readdirSync(join(root, 'cni/bin'))].sort()).toEqual(['etcd', 'kubelet', 'portmap']);
  });
});
