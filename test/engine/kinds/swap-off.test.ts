import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SwapOffResource } from '../../../src/engine/resource.js';
import { useTempDir, writeTree } from '../../support/tmp.js';
import { diffOf, observe, sh, stepTexts } from '../support.js';

const swapOff: SwapOffResource = { kind: 'swapOff' };
const MARK = '# kubestrap: swap off for the kubelet: ';

describe('swapOff kind', () => {
  it('turns off active swaps and comments out fstab swap lines by their number', () => {
    const c = diffOf(swapOff, ['active /dev/dm-1', 'active /swapfile', 'fstab 4 /dev/mapper/cl-swap none swap defaults 0 0', 'fstab 7 /swapfile none swap sw 0 0'].join('\n'));
    expect(c?.summary).toBe('swap: turn off /dev/dm-1, /swapfile, comment out 2 swap lines in /etc/fstab');
    expect(stepTexts(c)).toEqual(['swapoff -a', `sed -i -e '4s/^/${MARK}/' -e '7s/^/${MARK}/' /etc/fstab`]);
    expect(c?.detail).toEqual([
      '-/dev/mapper/cl-swap none swap defaults 0 0',
      `+${MARK}/dev/mapper/cl-swap none swap defaults 0 0`,
      '-/swapfile none swap sw 0 0',
      `+${MARK}/swapfile none swap sw 0 0`,
    ]);
    expect(c?.reloadsSystemd).toBe(true);
  });

  it('only swapoff when fstab has no swap line (no systemd reload)', () => {
    const c = diffOf(swapOff, 'active /dev/sda2');
    expect(c?.summary).toBe('swap: turn off /dev/sda2');
    expect(stepTexts(c)).toEqual(['swapoff -a']);
    expect(c?.detail).toEqual([]);
    expect(c?.reloadsSystemd).toBe(false);
  });

  it('says "line" for one fstab line', () => {
    expect(diffOf(swapOff, 'fstab 2 UUID=abc none swap sw 0 0')?.summary).toBe('swap: comment out 1 swap line in /etc/fstab');
  });

  it('has nothing to do without swap', () => {
    expect(diffOf(swapOff, '')).toBeUndefined();
  });

  describe('real probe on copies of /proc/swaps and /etc/fstab', () => {
    const tmp = useTempDir();

    it('finds active swaps and uncommented fstab swap lines; after the sed step fstab is clean', () => {
      const root = tmp();
      writeTree(root, {
        swaps: 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/dm-1                               partition\t2097148\t\t0\t\t-2\n',
        fstab: [
          '# /etc/fstab',
          'UUID=1111 /     xfs  defaults 0 0',
          '#/dev/sdb1 none swap sw 0 0',
          '/dev/mapper/cl-swap none                    swap    defaults        0 0',
          '  # indented comment swap',
          '/swapfile\tnone\tswap\tsw\t0\t0',
          '',
        ].join('\n'),
      });
      const edit = (s: string) => s.replace('/proc/swaps', `${root}/swaps`).replaceAll('/etc/fstab', `${root}/fstab`);
      const observed = observe(swapOff, { edit });
      expect(observed.split('\n')).toEqual(['active /dev/dm-1', 'fstab 4 /dev/mapper/cl-swap none                    swap    defaults        0 0', 'fstab 6 /swapfile\tnone\tswap\tsw\t0\t0']);
      const c = diffOf(swapOff, observed);
      sh(edit(stepTexts(c)[1]!));
      const fstab = readFileSync(`${root}/fstab`, 'utf8').split('\n');
      expect(fstab[3]).toBe(`${MARK}/dev/mapper/cl-swap none                    swap    defaults        0 0`);
      expect(fstab[5]).toBe(`${MARK}/swapfile\tnone\tswap\tsw\t0\t0`);
      expect(fstab[1]).toBe('UUID=1111 /     xfs  defaults 0 0');
      writeTree(root, { swaps: 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' });
      expect(observe(swapOff, { edit })).toBe('');
      expect(diffOf(swapOff, observe(swapOff, { edit }))).toBeUndefined();
    });
  });
});
