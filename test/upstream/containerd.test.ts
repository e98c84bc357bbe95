import { describe, expect, it } from 'vitest';
import { containerdMinimum, containerdSupportRow, containerdSupports, containerdSupportText, parseVersion, SUPPORTED_KUBE_MINORS } from '../../src/upstream/index.js';

const v = (text: string) => parseVersion(text)!;

describe("containerd's Kubernetes support table", () => {
  it('has a row for every Kubernetes minor kubestrap supports', () => {
    for (const minor of SUPPORTED_KUBE_MINORS) expect(containerdSupportRow(v(`1.${minor}.0`)).length).toBeGreaterThan(0);
  });

  it("says the rows as containerd's RELEASES.md writes them", () => {
    expect(containerdSupportText(v('1.35.2'))).toBe('2.2.0+, 2.1.5+ or 1.7.28+');
    expect(containerdSupportText(v('1.36.0'))).toBe('2.3.0+ or 2.2.0+');
    expect(containerdSupportText(v('1.34.7'))).toBe('2.1.3+, 2.0.6+, 1.7.28+ or 1.6.39+');
  });

  it('supports a listed line from its listed patch on', () => {
    expect(containerdSupports(v('1.35.0'), v('2.1.5'))).toBe(true);
    expect(containerdSupports(v('1.35.0'), v('2.1.4'))).toBe(false);
    expect(containerdSupports(v('1.35.0'), v('1.7.28'))).toBe(true);
    expect(containerdSupports(v('1.35.0'), v('1.7.24'))).toBe(false); // Debian 13's
    expect(containerdSupports(v('1.36.0'), v('2.2.0'))).toBe(true);
    expect(containerdSupports(v('1.36.0'), v('2.1.9'))).toBe(false); // Debian unstable's, 2026-12
  });

  it('drops containerd 1.6 from Kubernetes 1.35 and 1.7 from 1.36, and a line between listed ones', () => {
    expect(containerdSupports(v('1.34.0'), v('1.6.39'))).toBe(true);
    expect(containerdSupports(v('1.35.0'), v('1.6.39'))).toBe(false);
    expect(containerdSupports(v('1.36.0'), v('1.7.30'))).toBe(false);
    // 2.0 is listed up to 1.34, and not for 1.35, although 2.1 and 1.7 are.
    expect(containerdSupports(v('1.35.0'), v('2.0.9'))).toBe(false);
  });

  it('takes a line newer than the table as supported (the table predates it)', () => {
    expect(containerdSupports(v('1.36.0'), v('2.4.0'))).toBe(true);
    expect(containerdSupports(v('1.31.0'), v('2.3.0'))).toBe(true);
    expect(containerdSupports(v('1.37.1'), v('2.3.4'))).toBe(true);
  });

  it('names the oldest release any line accepts', () => {
    expect(containerdMinimum(v('1.35.0')).tag).toBe('v1.7.28');
    expect(containerdMinimum(v('1.36.0')).tag).toBe('v2.2.0');
    expect(containerdMinimum(v('1.31.0')).tag).toBe('v1.6.34');
  });
});
