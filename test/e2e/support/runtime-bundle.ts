import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_PATHS } from '../../../src/components/paths.js';
import type { Resource } from '../../../src/engine/resource.js';
import type { RuntimeBundle } from '../../../src/phases/runtime.js';
import { leadingVersion } from '../../../src/runtime/versions.js';
import { debsOf, ensureRepo } from '../../lab/repo.js';
import { ensureRootfs } from '../../lab/rootfs.js';

/** Binary name on the host -> where it is inside the unpacked Debian packages, and what restarts when it changes. */
const BINARIES: Record<string, { from: string; restarts: string[] }> = {
  containerd: { from: 'usr/bin/containerd', restarts: ['containerd'] },
  'containerd-shim-runc-v2': { from: 'usr/bin/containerd-shim-runc-v2', restarts: [] },
  ctr: { from: 'usr/bin/ctr', restarts: [] },
  runc: { from: 'usr/sbin/runc', restarts: [] },
  docker: { from: 'usr/bin/docker', restarts: [] },
  dockerd: { from: 'usr/sbin/dockerd', restarts: ['docker'] },
  'docker-proxy': { from: 'usr/sbin/docker-proxy', restarts: ['docker'] },
  'docker-init': { from: 'usr/bin/tini-static', restarts: [] },
};

/**
 * The runtime's binaries as an offline bundle would carry them, taken from the lab repo's Debian
 * packages (real containerd, runc and Docker; the lab's hosts have the few libraries they link).
 * Until the offline bundle carries them itself, this is what a bundle install gets in the tests.
 */
export async function labRuntimeBundle(): Promise<{ bundle: RuntimeBundle; busybox: Buffer; cleanup(): void }> {
  const log = () => undefined;
  const repo = await ensureRepo(await ensureRootfs(log), log);
  const dir = mkdtempSync(join(tmpdir(), 'kubestrap-runtime-bundle-'));
  for (const pkg of ['containerd', 'runc', 'docker.io', 'tini', 'busybox-static']) {
    const deb = debsOf(repo, pkg).pop();
    if (!deb) throw new Error(`the lab repo ${repo} has no ${pkg} package`);
    execFileSync('dpkg-deb', ['-x', deb, dir]);
  }
  const version = leadingVersion(execFileSync('dpkg-deb', ['-f', debsOf(repo, 'containerd').pop()!, 'Version'], { encoding: 'utf8' }))!;
  const contents = Object.fromEntries(
    Object.entries(BINARIES).map(([name, { from }]) => {
      const file = join(dir, from);
      if (!existsSync(file)) throw new Error(`${from} is not in the lab's runtime packages`);
      return [name, readFileSync(realpathSync(file))];
    }),
  );
  const bundle: RuntimeBundle = {
    containerdVersion: version,
    binaries: (): Resource[] =>
      Object.entries(BINARIES).map(([name, { restarts }]) => ({
        kind: 'file',
        path: `${HOST_PATHS.runtimeBinDir}/${name}`,
        content: contents[name]!,
        mode: 0o755,
        owner: 'root',
        group: 'root',
        restarts,
      })),
  };
  return { bundle, busybox: readFileSync(join(dir, 'bin/busybox')), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
