import { describe, expect, it, vi } from 'vitest';
import { mustParseVersion, type Version } from '../../src/upstream/index.js';
import { labKubeVersion } from './lab-kube-version.js';

// The oldest containerd each minor takes: a table of the test's own, whatever src/upstream says today.
const MINIMUM: Record<number, string> = { 31: 'v1.6.34', 32: 'v1.6.36', 33: 'v1.6.36', 34: 'v1.6.39', 35: 'v2.1.5', 36: 'v2.2.0', 37: 'v2.2.0' };
vi.mock('../../src/upstream/index.js', async (importOriginal) => {
  const upstream = await importOriginal<typeof import('../../src/upstream/index.js')>();
  return { ...upstream, containerdSupports: (kube: Version, containerd: Version) => upstream.compareVersions(containerd, upstream.mustParseVersion(MINIMUM[kube.minor]!)) >= 0 };
});

const v = mustParseVersion;

describe("the lab bundle's Kubernetes version", () => {
  it("is kubectl's own where its minor supports the containerd", () => {
    expect(labKubeVersion(v('v1.36.4'), v('2.2.1'))).toEqual({ tag: 'v1.36.4', containerdSupported: true });
  });

  it('is the newest older minor that supports the containerd, at patch 0, where kubectl is too new for it', () => {
    expect(labKubeVersion(v('v1.36.4'), v('2.1.9'))).toEqual({ tag: 'v1.35.0', containerdSupported: true });
    expect(labKubeVersion(v('v1.36.4'), v('1.6.39'))).toEqual({ tag: 'v1.34.0', containerdSupported: true });
  });

  it('is never newer than kubectl, whatever the containerd', () => {
    expect(labKubeVersion(v('v1.33.2'), v('2.2.0'))).toEqual({ tag: 'v1.33.2', containerdSupported: true });
  });

  it("stays kubectl's, said as unsupported, for a containerd no minor supports (Debian 12's)", () => {
    expect(labKubeVersion(v('v1.36.4'), v('1.6.20'))).toEqual({ tag: 'v1.36.4', containerdSupported: false });
  });
});
