import { describe, expect, it } from 'vitest';
import { hostPatternsMatch } from '../../src/ssh/host-patterns.js';

describe('OpenSSH host pattern lists (known_hosts, ssh_config Host)', () => {
  it('* is any run, ? exactly one character, names compare without case', () => {
    expect(hostPatternsMatch(['lab*'], 'LAB12')).toBe(true);
    expect(hostPatternsMatch(['lab?'], 'lab1')).toBe(true);
    expect(hostPatternsMatch(['lab?'], 'lab')).toBe(false);
    expect(hostPatternsMatch(['lab?'], 'lab12')).toBe(false);
  });

  it('a matching negated pattern rules the name out, whatever else matches', () => {
    expect(hostPatternsMatch(['*', '!bastion'], 'bastion')).toBe(false);
    expect(hostPatternsMatch(['*', '!bastion'], 'node1')).toBe(true);
    expect(hostPatternsMatch(['!bastion'], 'node1')).toBe(false);
  });

  it('everything else is literal, brackets and dots included', () => {
    expect(hostPatternsMatch(['node[12]'], 'node1')).toBe(false);
    expect(hostPatternsMatch(['node[12]'], 'node[12]')).toBe(true);
    expect(hostPatternsMatch(['10.0.0.1'], '10a0b0c1')).toBe(false);
  });

  it('a plain name compares as text without case, and a wildcard pattern keeps its meaning when used again', () => {
    expect(hostPatternsMatch(['[NODE1]:2222'], '[node1]:2222')).toBe(true);
    expect(hostPatternsMatch(['[node1]:2222'], '[node1]:22222')).toBe(false);
    expect(hostPatternsMatch(['n?de*'], 'node7')).toBe(true);
    expect(hostPatternsMatch(['n?de*'], 'mode7')).toBe(false);
  });
});
