import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { clusterSources, withInputOptions, type InputOptions } from '../../src/cli/options.js';

/** -F and --no-ssh-config read as OpenSSH reads them, on every command built with withInputOptions. */
describe('ssh_config options', () => {
  function sources(argv: string[]) {
    const command = withInputOptions(new Command('plan')).exitOverride();
    command.parse(['-i', 'inv.yaml', ...argv], { from: 'user' });
    return clusterSources(command.opts<InputOptions>()).sshConfig;
  }

  it('reads ~/.ssh/config when neither is given', () => {
    expect(sources([])).toEqual({ kind: 'user' });
  });

  it('reads the file given with -F or --ssh-config instead', () => {
    expect(sources(['-F', 'lab.conf'])).toEqual({ kind: 'file', path: 'lab.conf' });
    expect(sources(['--ssh-config', 'lab.conf'])).toEqual({ kind: 'file', path: 'lab.conf' });
  });

  it('reads none with --no-ssh-config', () => {
    expect(sources(['--no-ssh-config'])).toEqual({ kind: 'none' });
  });
});
