import { describe, expect, it } from 'vitest';
import { containerdConfigVersion, leadingVersion } from '../../src/runtime/versions.js';
import { parseVersion } from '../../src/upstream/index.js';

const v = (text: string) => parseVersion(text)!;

describe('runtime versions', () => {
  it('reads the version out of what containerd and the package managers print', () => {
    expect(leadingVersion('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3')?.tag).toBe('v1.6.20');
    expect(leadingVersion('containerd containerd.io 1.7.22 7f7fdf5fed64eb6a7caf99b3e12efcf9d60e311c')?.tag).toBe('v1.7.22');
    expect(leadingVersion('containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376')?.tag).toBe('v2.1.4');
    expect(leadingVersion('1.6.20~ds1-1+deb12u3')?.tag).toBe('v1.6.20');
    expect(leadingVersion('1:1.7.24~ds1-6')?.tag).toBe('v1.7.24');
    expect(leadingVersion('not installed')).toBeUndefined();
  });

  it('writes config version 2 for containerd 1.x (and when unknown: 2.x converts it) and 3 for 2.x', () => {
    expect(containerdConfigVersion(v('1.7.22'))).toBe('2');
    expect(containerdConfigVersion(v('2.0.0'))).toBe('3');
    expect(containerdConfigVersion(undefined)).toBe('2');
  });
});
