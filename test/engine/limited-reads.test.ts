import { describe, expect, it } from 'vitest';
import { hostsToRead, type LimitReads } from '../../src/engine/limited-reads.js';
import type { TargetHost } from '../../src/engine/target.js';

const hosts = ['m1', 'm2', 'w1', 'w2', 'w3'].map((name) => ({ name, address: `10.0.0.${name.length}` }) as TargetHost);
const names = (read: readonly TargetHost[]) => read.map((h) => h.name);
const masters: LimitReads<TargetHost> = (_limited, all) => all.filter((h) => h.name.startsWith('m'));
const none: LimitReads<TargetHost> = () => [];

describe('hostsToRead', () => {
  it('reads every host without a limit', () => {
    expect(names(hostsToRead(hosts, undefined, [none]))).toEqual(['m1', 'm2', 'w1', 'w2', 'w3']);
  });

  it('reads the limited hosts and those the parts name, in inventory order', () => {
    expect(names(hostsToRead(hosts, ['w3'], [none, masters]))).toEqual(['m1', 'm2', 'w3']);
    expect(names(hostsToRead(hosts, ['w2'], [none]))).toEqual(['w2']);
  });

  it('reads every host when one part does not say what it needs', () => {
    expect(names(hostsToRead(hosts, ['w3'], [masters, undefined]))).toEqual(['m1', 'm2', 'w1', 'w2', 'w3']);
  });

  it('hands each part the limited hosts', () => {
    const theirPeers: LimitReads<TargetHost> = (limited, all) => all.filter((h) => limited.some((l) => l.name[0] === h.name[0]));
    expect(names(hostsToRead(hosts, ['m2'], [theirPeers]))).toEqual(['m1', 'm2']);
  });
});
