import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SelinuxResource } from '../../../src/engine/resource.js';
import { useTempDir, writeTree } from '../../support/tmp.js';
import { diffOf, fakeTools, observe, sh, stepTexts } from '../support.js';

const selinux: SelinuxResource = { kind: 'selinux', mode: 'permissive' };
const SED = "sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config";

describe('selinux kind', () => {
  it('makes an enforcing host permissive now and after reboot', () => {
    const c = diffOf(selinux, 'Enforcing\nenforcing');
    expect(c?.summary).toBe('SELinux: permissive now, permissive in /etc/selinux/config');
    expect(stepTexts(c)).toEqual(['setenforce 0', SED]);
  });

  it('fixes only what is enforcing', () => {
    expect(stepTexts(diffOf(selinux, 'Permissive\nenforcing'))).toEqual([SED]);
    expect(stepTexts(diffOf(selinux, 'Enforcing\npermissive'))).toEqual(['setenforce 0']);
  });

  it('accepts permissive and disabled hosts as they are', () => {
    expect(diffOf(selinux, 'Permissive\npermissive')).toBeUndefined();
    expect(diffOf(selinux, 'Disabled\ndisabled')).toBeUndefined();
    expect(diffOf(selinux, 'Disabled')).toBeUndefined();
  });

  describe('real probe', () => {
    const tmp = useTempDir();

    it('reads getenforce and the config file; the sed step makes the config permissive', () => {
      const root = tmp();
      writeTree(root, { 'selinux/config': '# comment SELINUX=enforcing\nSELINUX=enforcing\nSELINUXTYPE=targeted\n' });
      const env = fakeTools(root, { getenforce: 'echo Enforcing' });
      const edit = (s: string) => s.replaceAll('/etc/selinux/config', `${root}/selinux/config`);
      const observed = observe(selinux, { env, edit });
      expect(observed).toBe('Enforcing\nenforcing');
      const steps = stepTexts(diffOf(selinux, observed));
      sh(edit(steps[1]!));
      expect(observe(selinux, { env, edit })).toBe('Enforcing\npermissive');
      expect(readFileSync(`${root}/selinux/config`, 'utf8')).toBe('# comment SELINUX=enforcing\nSELINUX=permissive\nSELINUXTYPE=targeted\n');
    });

    it('on this machine (no SELinux tools, no config) there is nothing to do', () => {
      const observed = observe(selinux, { env: { ...process.env, PATH: '/usr/bin:/bin' } });
      expect(observed).toBe('Disabled');
      expect(diffOf(selinux, observed)).toBeUndefined();
    });
  });
});
