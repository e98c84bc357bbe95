import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

describe('the command line', () => {
  it("escapes what commander quotes of the command line, and writes it where the CLI's errors go", async () => {
    const run = await runCli(['plan', '-i', 'inventory.yaml', '-c', 'config.properties', '--\x1b[2Jall-ok\u202e']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: unknown option '--\\x1b[2Jall-ok\\u202e'");
  });

  it("shows a command's own options however it is asked for help (its module is imported only when it is named), and lists every command", async () => {
    for (const args of [
      ['apply', '--help'],
      ['help', 'apply'],
      ['--debug', 'apply', '--help'],
    ]) {
      const run = await runCli(args);
      expect([run.code, run.stdout]).toEqual([0, expect.stringContaining('--phase <names...>')]);
    }
    const list = await runCli(['--help']);
    expect(list.stdout).toContain('apply           bring every host to the desired state');
  });

  it('says the version package.json has', async () => {
    const run = await runCli(['--version']);
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect([run.code, run.stdout.trim()]).toEqual([0, version]);
  });
});
