import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_RECORD_DIR } from '../../src/engine/host-record.js';
import type { Phase } from '../../src/engine/phase.js';
import type { LocalFileResource } from '../../src/engine/resource.js';
import { runPhases } from '../../src/engine/runner.js';
import type { Upload } from '../../src/transfer/upload.js';
import { ArtifactError } from '../../src/errors.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { shRun, shRunWithInput } from './support.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * This machine as the one host, as a run sees it: its own facts, except PID 1 (systemd, as on
 * real hosts) and kubestrap's record folder, both moved into a temp folder.
 */
function thisMachine(dir: string): RemoteHost {
  writeFileSync(join(dir, 'comm'), 'systemd\n');
  mkdirSync(join(dir, 'record'), { recursive: true });
  const move = (script: string) => script.replaceAll('/proc/1/comm', join(dir, 'comm')).replaceAll(HOST_RECORD_DIR, join(dir, 'record'));
  return {
    name: 'local',
    stats: { handshakes: 1, execs: 0, sftpOps: 0, streamedBytes: 0 },
    run: async (script) => shRun(move(script)),
    runWithInput: async (script, input) => shRunWithInput(move(script), input()),
    putFile: async () => ({ written: true }),
    close: async () => undefined,
  };
}

describe('runPhases: a phase checks what leaves for a host', () => {
  const tmp = useTempDir();

  function setup() {
    const dir = tmp();
    const spec = clusterFrom(dir, '', 'cluster: here\nhosts:\n  - { name: here, address: 127.0.0.1, roles: [etcd, master, worker] }\n');
    const data = Buffer.alloc(50_000, 'tool ');
    const local = join(dir, 'tool');
    writeFileSync(local, data);
    const resource: LocalFileResource = {
      kind: 'localFile',
      path: join(dir, 'host', 'bin', 'tool'),
      mode: 0o755,
      owner: 'root',
      group: 'root',
      restarts: [],
      source: { sha256: sha(data), size: data.length, transfer: { codec: 'none', file: local, bytes: data.length } },
    };
    mkdirSync(join(dir, 'host', 'bin'), { recursive: true });
    const checked: Upload[][] = [];
    let refuse = false;
    const phase: Phase = {
      name: 'tools',
      title: 'tools',
      appliesTo: () => true,
      resources: () => [resource],
      beforeUpload: async (uploads) => {
        checked.push([...uploads]);
        if (refuse) throw new ArtifactError(local, `${local} is not what was checked`);
      },
    };
    const host = thisMachine(dir);
    const run = () => runPhases({ spec, filesFor: () => [], phases: [phase], mode: 'apply', connect: async () => host, concurrency: 1 });
    return { run, resource, checked, data, refuseNext: () => (refuse = true) };
  }

  it('hands beforeUpload the uploads a host gets, and nothing on a run that sends nothing', async () => {
    const { run, resource, checked, data } = setup();
    const first = await run();
    expect(first.results.map((r) => r.status)).toEqual(['changed']);
    expect(checked.map((c) => c.map((u) => u.path))).toEqual([[resource.path]]);
    expect(readFileSync(resource.path).equals(data)).toBe(true);

    const again = await run();
    expect(again.results.map((r) => r.status)).toEqual(['ok']);
    expect(checked).toHaveLength(1);
  });

  it('fails the host when beforeUpload refuses, with nothing sent', async () => {
    const { run, resource, refuseNext } = setup();
    refuseNext();
    const report = await run();
    expect(report.results.map((r) => [r.status, r.error?.message])).toEqual([['failed', expect.stringContaining('is not what was checked')]]);
    expect(() => statSync(resource.path)).toThrow();
  });
});
