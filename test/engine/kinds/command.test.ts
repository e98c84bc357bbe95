import { describe, expect, it } from 'vitest';
import type { CommandResource } from '../../../src/engine/resource.js';
import { diffOf, observe, stepTexts } from '../support.js';

const cmd = (check: string): CommandResource => ({ kind: 'command', name: 'forward', description: 'iptables: FORWARD ACCEPT', check, run: 'iptables -P FORWARD ACCEPT' });

describe('command kind', () => {
  it('runs only when the check exits non-zero', () => {
    expect(diffOf(cmd('x'), '0')).toBeUndefined();
    const c = diffOf(cmd('x'), '1');
    expect(c?.summary).toBe('iptables: FORWARD ACCEPT');
    expect(stepTexts(c)).toEqual(['iptables -P FORWARD ACCEPT']);
    expect(c?.resourceId).toBe('command:forward');
  });

  it('treats a missing probe section as needing the command', () => {
    expect(diffOf(cmd('x'), '')).toBeDefined();
  });

  it('real probe: prints the exit code of the check and nothing of its output', () => {
    expect(observe(cmd('echo noise; echo err >&2; true'))).toBe('0');
    expect(observe(cmd('echo noise; exit 3'))).toBe('3');
    expect(observe(cmd('no-such-command-kubestrap'))).toBe('127');
    expect(diffOf(cmd('false'), observe(cmd('false')))).toBeDefined();
  });
});
