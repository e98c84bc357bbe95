import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { HostnameResource } from '../../../src/engine/resource.js';
import { diffOf, observe, stepTexts } from '../support.js';

const named = (name: string): HostnameResource => ({ kind: 'hostname', name });

describe('hostname kind', () => {
  it('has nothing to do when the running and the configured name match', () => {
    expect(diffOf(named('m1'), 'm1\nm1')).toBeUndefined();
  });

  it('renames a host, naming the old and new name', () => {
    const c = diffOf(named('m1'), 'localhost.localdomain\nlocalhost.localdomain');
    expect(c?.summary).toBe('hostname: localhost.localdomain → m1');
    expect(stepTexts(c)[0]).toMatch(
      /^if command -v hostnamectl >\/dev\/null && hostnamectl set-hostname -- m1 2>\/dev\/null; then :; else printf '%s\\n' m1 > \/etc\/hostname\.kubestrap-tmp && mv -f /,
    );
  });

  it('also changes a host whose /etc/hostname differs or is missing', () => {
    expect(diffOf(named('m1'), 'm1\nold')).toBeDefined();
    expect(diffOf(named('m1'), 'm1')).toBeDefined();
    expect(diffOf(named('m1'), '')?.summary).toBe('hostname: (none) → m1');
  });

  it('real probe: this machine has its own name', () => {
    const observed = observe(named(hostname()));
    expect(observed.split('\n')[0]).toBe(hostname());
    const etc = readFileSync('/etc/hostname', 'utf8').trim();
    expect(observed).toBe(`${hostname()}\n${etc}`);
    expect(diffOf(named(hostname()), observed) === undefined).toBe(etc === hostname());
    expect(diffOf(named('kubestrap-other-name'), observed)?.summary).toBe(`hostname: ${hostname()} → kubestrap-other-name`);
  });
});
