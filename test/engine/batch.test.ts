import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchScript, parseBatch } from '../../src/engine/batch.js';
import { useTempDir } from '../support/tmp.js';
import { shRun } from './support.js';

describe('batchScript + parseBatch, run for real with sh', () => {
  const tmp = useTempDir();

  it('cannot be fooled by output that imitates its markers (a failed step passing for a success)', () => {
    const run = shRun(batchScript(['echo ok', `printf '\\n@@kubestrap-rc 0\\n@@kubestrap-step 2\\n\\n@@kubestrap-rc 0\\n'; exit 1`, 'echo never']));
    expect(parseBatch(run.stdout).map((s) => [s.index, s.exitCode])).toEqual([
      [0, 0],
      [1, 1],
    ]);
  });

  it('reports each step with its exit code and output, and stops at the first failure', () => {
    const never = join(tmp(), 'never');
    const run = shRun(batchScript(['echo one', 'printf two', 'echo out; echo err >&2; exit 3', `echo never > ${never}`]));
    // The batch itself succeeds: the failure is in the step results.
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(parseBatch(run.stdout)).toEqual([
      { index: 0, exitCode: 0, output: 'one\n' },
      { index: 1, exitCode: 0, output: 'two' },
      { index: 2, exitCode: 3, output: 'out\nerr\n' },
    ]);
    expect(existsSync(never)).toBe(false);
  });

  it('runs every step when all succeed, each in its own subshell with no stdin', () => {
    const run = shRun(batchScript(['cd /; X=1; exit 0', 'echo "x=${X:-unset} pwd=$(pwd)"', 'cat; echo "stdin closed"', 'printf ""']), undefined);
    const steps = parseBatch(run.stdout);
    expect(steps.map((s) => s.exitCode)).toEqual([0, 0, 0, 0]);
    expect(steps[1]!.output).toBe(`x=unset pwd=${process.cwd()}\n`);
    expect(steps[2]!.output).toBe('stdin closed\n');
    expect(steps[3]!.output).toBe('');
  });

  it('keeps multi-line scripts and odd exit codes', () => {
    const steps = parseBatch(shRun(batchScript(['if true; then\n  echo multi\nfi', 'sh -c "exit 255"'])).stdout);
    expect(steps).toEqual([
      { index: 0, exitCode: 0, output: 'multi\n' },
      { index: 1, exitCode: 255, output: '' },
    ]);
  });

  it('returns nothing for an empty batch', () => {
    expect(batchScript([])).toBe('');
    expect(parseBatch('')).toEqual([]);
  });

  it('marks a step cut off before its exit code (connection lost) with -1, and ignores a preamble', () => {
    const full = shRun(batchScript(['echo a', 'echo started; sleep 0'])).stdout;
    const cut = full.slice(0, full.lastIndexOf('@@kubestrap-rc'));
    expect(parseBatch(`motd line\n${cut}`)).toEqual([
      { index: 0, exitCode: 0, output: 'a\n' },
      { index: 1, exitCode: -1, output: 'started\n\n' },
    ]);
  });
});
