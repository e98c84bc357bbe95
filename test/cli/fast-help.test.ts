import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { commanderHelp, renderBuiltHelp } from '../../src/cli/built-help.js';
import { chooseHelp, printBuiltHelp } from '../../src/cli/fast-help.js';
import { runCli } from '../support/cli.js';

describe('the help built for the launcher', () => {
  it('is what commander prints for --help, -h and help', async () => {
    const built = await renderBuiltHelp();
    for (const args of [['--help'], ['-h'], ['help']]) {
      const run = await runCli(args);
      expect([run.code, chooseHelp(built, undefined)]).toEqual([0, run.stdout]);
    }
    expect(built.narrow).toContain('apply           bring every host to the desired state');
  });

  it('is printed at a width only where commander would print the same text there', async () => {
    const built = await renderBuiltHelp();
    expect(built.wideFrom).toBeGreaterThan(built.narrowWidth);
    for (const columns of [40, 79, 80, 81, 100, built.wideFrom - 1, built.wideFrom, 300]) {
      const chosen = chooseHelp(built, columns);
      if (chosen !== undefined) expect(chosen).toBe(await commanderHelp(columns));
    }
    expect(chooseHelp(built, built.wideFrom - 1)).toBeUndefined();
    expect(chooseHelp(built, 300)).toBe(built.wide);
  });

  it('is printed by the launcher only for the top-level help, and only when the build wrote it', async () => {
    const file = pathToFileURL(join(mkdtempSync(join(tmpdir(), 'kubestrap-help-')), 'help.json'));
    const out: string[] = [];
    const stdout = { write: (text: string) => out.push(text) };
    expect(printBuiltHelp(['--help'], stdout, file)).toBe(false);
    writeFileSync(file, JSON.stringify(await renderBuiltHelp()));
    expect(printBuiltHelp(['apply', '--help'], stdout, file)).toBe(false);
    expect(printBuiltHelp(['--help', '--debug'], stdout, file)).toBe(false);
    expect(printBuiltHelp(['--help'], stdout, file)).toBe(true);
    expect(out).toEqual([(await runCli(['--help'])).stdout]);
  });
});
