import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { parseVersion, type Version } from '../../src/upstream/index.js';
import { labBundle, labBundleRecord } from '../lab/bundle.js';
import { labInfo } from '../lab/index.js';
import { HOST_PACKAGES } from '../lab/unstable-repo.js';
import { bundleFile } from './support/bundle.js';
import { copyToHost } from './support/copy.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

const CURRENT = 0;
const PREVIOUS = 1;

/** The upstream version in a Debian version: 1:2.1.9~ds1-5 -> 2.1.9. */
const upstream = (debVersion: string) => debVersion.replace(/^\d+:/, '').split(/[-+~]/)[0]!;

/** The Debian version apt would install on host i: empty for a package apt does not know. */
const candidate = (run: (i: number, script: string) => Promise<string>, i: number, pkg: string) => run(i, `apt-cache policy ${pkg} | awk '/Candidate:/ {print $2}'`).then((out) => out.trim());

function versionOf(bundleDir: string, component: string): Version | undefined {
  const entry = loadManifest(join(bundleDir, MANIFEST_FILE)).manifest.artifacts.find((a) => a.component === component);
  return entry ? parseVersion(entry.version) : undefined;
}

/**
 * The lab's two generations of etcd, containerd and Docker: Debian unstable's current builds, fetched
 * with an apt of the lab's own and served next to Debian 12's, and Debian 12's own. Versions are read
 * from what the lab recorded when it fetched them, never written here: unstable moves.
 */
describe.skipIf(!labAvailable())("the lab's generations: Debian unstable's builds next to Debian 12's", () => {
  const hosts = useLabHosts(2, { generation: ['current', 'previous'] });

  it("a current host's apt installs unstable's builds, and they run on Debian 12", async () => {
    const unstable = (await labInfo(hosts.lab.name))!.unstable!;
    await hosts.run(CURRENT, 'apt-get update -qq');
    for (const pkg of HOST_PACKAGES) expect(await candidate(hosts.run, CURRENT, pkg)).toBe(unstable.packages[pkg]);
    await hosts.run(CURRENT, 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd kubectl >/dev/null');
    expect(await hosts.run(CURRENT, 'containerd --version')).toContain(` ${upstream(unstable.packages.containerd!)}`);
    expect(await hosts.run(CURRENT, 'kubectl version --client')).toContain(`Client Version: v${upstream(unstable.packages.kubectl!)}`);
  });

  it("etcd 3.5 is the bundle's only: unstable's etcd-server does not install on Debian 12, its binaries run there", async () => {
    const unstable = (await labInfo(hosts.lab.name))!.unstable!;
    expect(await candidate(hosts.run, CURRENT, 'etcd-server')).toMatch(/^3\.4\./);
    const bundle = inject('bundleDir')!;
    for (const tool of ['etcd', 'etcdutl']) await copyToHost(hosts.lab, hosts.host(CURRENT), bundleFile(bundle, tool).file, `/usr/local/bin/${tool}`, '0755');
    expect(await hosts.run(CURRENT, 'etcd --version')).toContain(`etcd Version: ${upstream(unstable.packages['etcd-server']!)}`);
    expect(await hosts.run(CURRENT, 'etcdutl version')).toContain(`etcdutl version: ${upstream(unstable.packages['etcd-server']!)}`);
  });

  it("a previous host's apt is a Debian 12 server's: Debian 12's etcd and containerd, no kubectl", async () => {
    await hosts.run(PREVIOUS, 'apt-get update -qq');
    expect(await hosts.run(PREVIOUS, 'cat /etc/apt/sources.list.d/kubestrap-lab.list')).not.toContain('/unstable');
    expect(await candidate(hosts.run, PREVIOUS, 'etcd-server')).toMatch(/^3\.4\./);
    expect(await candidate(hosts.run, PREVIOUS, 'containerd')).toMatch(/^1\.6\./);
    // apt knows no kubectl at all there.
    expect(await candidate(hosts.run, PREVIOUS, 'kubectl')).toBe('');
    expect(hosts.host(PREVIOUS).generation).toBe('previous');
  });

  it("leaves this machine's apt alone: its sources name no unstable suite", () => {
    const sources = ['/etc/apt/sources.list', '/etc/apt/sources.list.d/debian.sources'].map((f) => {
      try {
        return readFileSync(f, 'utf8');
      } catch {
        return '';
      }
    });
    expect(sources.join('\n')).not.toMatch(/\b(sid|unstable)\b/);
  });

  it('bundles each generation: the current one for the suite, the previous one when a test asks for it', async () => {
    const current = inject('bundleDir')!;
    expect(labBundleRecord(current).generation).toBe('current');
    expect(versionOf(current, 'etcd')!.minor).toBeGreaterThanOrEqual(5);
    expect(versionOf(current, 'etcdutl')).toEqual(versionOf(current, 'etcd'));
    expect(versionOf(current, 'containerd')!.major).toBeGreaterThanOrEqual(2);

    const previous = await labBundle({ generation: 'previous' });
    expect(previous).not.toBe(current);
    expect(labBundleRecord(previous).generation).toBe('previous');
    expect(versionOf(previous, 'etcd')).toMatchObject({ major: 3, minor: 4 });
    // etcdutl came with 3.5.
    expect(versionOf(previous, 'etcdutl')).toBeUndefined();
    expect(versionOf(previous, 'containerd')).toMatchObject({ major: 1, minor: 6 });
    // Built once: asked again, the same folder.
    expect(await labBundle({ generation: 'previous' })).toBe(previous);
  });
});
