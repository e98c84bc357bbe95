import { execFile, execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { MANIFEST_FILE } from '../../../src/artifacts/manifest.js';
import { binariesOf, type Project } from '../../../src/upstream/index.js';
import { bundleVersionProperties, setProperties } from '../../lab/cluster-config.js';
import type { CliRun } from '../../support/cli.js';

const REPO = resolve(import.meta.dirname, '../../..');

/**
 * kubestrap as it was at an earlier commit, run from its own source (src/ and units/ of that commit,
 * this checkout's node_modules), to make a cluster the way an earlier release did and then let the
 * current one converge it. The commit must be in this clone's history: CI clones it whole.
 */
export interface PreviousRelease {
  commit: string;
  cli(args: string[]): Promise<CliRun>;
  /**
   * A config.properties for a lab cluster as this release's own example wrote it (a later example
   * may hold values it refuses): the versions `bundleDir` holds, 1.35+ kubelets allowed on the lab's
   * cgroup v1 hosts.
   */
  writeLabConfig(file: string, bundleDir: string): void;
}

/**
 * The lab's bundle as an earlier release reads it: the same files (hard links, one file system)
 * with a manifest that names `versions`' projects by the versions that release's config takes.
 * Releases before the flannel CNI plugin's tag was taken as written (v1.9.1-flannel1) took its bare
 * version (v1.9.1) and added the suffix themselves.
 */
export function bundleWithVersions(bundleDir: string, dir: string, versions: Partial<Record<Project, string>>): string {
  const out = join(dir, 'bundle');
  linkTree(bundleDir, out, (name) => name !== MANIFEST_FILE);
  const file = join(out, MANIFEST_FILE);
  const manifest = JSON.parse(readFileSync(join(bundleDir, MANIFEST_FILE), 'utf8')) as { createdFor?: Record<string, string>; artifacts: Array<{ component: string; version: string }> };
  for (const [project, version] of Object.entries(versions)) {
    const names = binariesOf(project as Project) as string[];
    for (const a of manifest.artifacts) if (names.includes(a.component)) a.version = version;
    if (manifest.createdFor) manifest.createdFor[project] = version;
  }
  writeFileSync(file, JSON.stringify(manifest, null, 2));
  return out;
}

/** `from`'s files hard-linked into `to`, folders made anew; top-level names `keep` refuses are left out. */
function linkTree(from: string, to: string, keep: (name: string) => boolean = () => true): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (!keep(entry.name)) continue;
    if (entry.isDirectory()) linkTree(join(from, entry.name), join(to, entry.name));
    else linkSync(join(from, entry.name), join(to, entry.name));
  }
}

export function usePreviousRelease(commit: string): PreviousRelease {
  let dir: string | undefined;
  beforeAll(() => {
    try {
      execFileSync('git', ['-C', REPO, 'cat-file', '-e', `${commit}^{commit}`], { stdio: 'pipe' });
    } catch {
      throw new Error(`commit ${commit} is not in this clone (a shallow clone?): the upgrade test needs the release it starts from; fetch the full history`);
    }
    dir = mkdtempSync(join(tmpdir(), `kubestrap-${commit.slice(0, 7)}-`));
    const archive = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', commit, 'src', 'units', 'package.json', 'tsconfig.json'], { maxBuffer: 256 * 1024 * 1024 });
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'run.ts'), "import { main } from './src/cli/main.js';\nprocess.exitCode = await main(process.argv.slice(2));\n");
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    commit,
    writeLabConfig(file, bundleDir) {
      writeFileSync(file, execFileSync('git', ['-C', REPO, 'show', `${commit}:config.example.properties`], { encoding: 'utf8' }));
      setProperties(file, { ...bundleVersionProperties(bundleDir), KUBELET_ALLOW_CGROUP_V1: 'true' });
    },
    cli: (args) =>
      new Promise((done) => {
        if (!dir) throw new Error('the previous release is set up in beforeAll');
        execFile(process.execPath, ['--import', 'tsx', join(dir, 'run.ts'), ...args], { cwd: dir, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          done({ code, stdout, stderr });
        });
      }),
  };
}
