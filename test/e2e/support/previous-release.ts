import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
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
