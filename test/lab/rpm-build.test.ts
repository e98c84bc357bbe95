import { describe, expect, it } from 'vitest';
import { dependencyGroups, parseControl, rpmVersion } from './rpm-build.js';

describe('RPMs from Debian packages', () => {
  it('turn a Debian version into RPM epoch, version and release', () => {
    expect(rpmVersion('1:1.4.7-1+b2')).toEqual({ epoch: 1, version: '1.4.7', release: '1+b2.kslab' });
    expect(rpmVersion('20.10.24+dfsg1-1+deb12u1+b6')).toEqual({ version: '20.10.24+dfsg1', release: '1+deb12u1+b6.kslab' });
    // A hyphen belongs to the upstream version when a revision follows it.
    expect(rpmVersion('1.2-rc1-3')).toEqual({ version: '1.2-rc1', release: '3.kslab' });
    expect(rpmVersion('3.4')).toEqual({ version: '3.4', release: '0.kslab' });
  });

  it('read dependency fields as groups of alternatives, by name only', () => {
    expect(dependencyGroups('libc6 (>= 2.34), containerd (>= 1.4~) | containerd.io, perl:any, ')).toEqual([['libc6'], ['containerd', 'containerd.io'], ['perl']]);
    expect(dependencyGroups(undefined)).toEqual([]);
  });

  it('read control paragraphs with continuation lines', () => {
    const text = 'Package: a\nStatus: install ok installed\nDescription: one\n two\n\nPackage: b\nProvides: c (= 1)\n';
    expect(parseControl(text)).toEqual([
      { Package: 'a', Status: 'install ok installed', Description: 'one\ntwo' },
      { Package: 'b', Provides: 'c (= 1)' },
    ]);
  });
});
