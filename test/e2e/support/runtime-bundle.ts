import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_PATHS } from '../../../src/components/paths.js';
import type { Resource } from '../../../src/engine/resource.js';
import type { RuntimeBundle } from '../../../src/phases/runtime.js';
import { runtimeBinaries, serviceOfBinary } from '../../../src/components/binaries.js';
import { mustParseVersion } from '../../../src/upstream/index.js';
import { ensureLabRepos } from '../../lab/lab-repos.js';
import { debsOf } from '../../lab/repo.js';
import { bundleFile } from './bundle.js';

/**
 * The runtime's binaries as the lab bundle holds them (real containerd, runc and Docker from the
 * lab's Debian packages, of the bundle's generation), as the runtime phase takes them for
 * CONTAINER_RUNTIME_SOURCE=bundle; and busybox-static, for an image to run. The product's CLI does not
 * hand the runtime phase a bundle's runtime yet, so the tests build the phase with this one.
 */
export async function labRuntimeBundle(bundleDir: string): Promise<{ bundle: RuntimeBundle; busybox: Buffer }> {
  const contents = new Map(runtimeBinaries().map((name) => [name, readFileSync(bundleFile(bundleDir, name).file)]));
  const bundle: RuntimeBundle = {
    containerdVersion: mustParseVersion(bundleFile(bundleDir, 'containerd').version),
    binaries: (): Resource[] =>
      [...contents].map(([name, content]) => {
        const service = serviceOfBinary(name);
        return { kind: 'file', path: `${HOST_PATHS.runtimeBinDir}/${name}`, content, mode: 0o755, owner: 'root', group: 'root', restarts: service ? [service] : [] };
      }),
  };
  return { bundle, busybox: await busyboxStatic() };
}

/** busybox-static from the lab's Debian 12 repo. */
async function busyboxStatic(): Promise<Buffer> {
  const { debian12 } = await ensureLabRepos(() => undefined);
  const deb = debsOf(debian12, 'busybox-static').pop();
  if (!deb) throw new Error(`the lab repo ${debian12} has no busybox-static package`);
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-busybox-'));
  try {
    execFileSync('dpkg-deb', ['-x', deb, dir]);
    return readFileSync(join(dir, 'bin/busybox'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
