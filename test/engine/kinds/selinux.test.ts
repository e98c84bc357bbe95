import { lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SelinuxResource } from '../../../src/engine/resource.js';
import { useTempDir, writeTree } from '../../support/tmp.js';
import { diffOf, fakeTools, observe, sh, stepTexts } from '../support.js';

const selinux: SelinuxResource = { kind: 'selinux', mode: 'permissive' };
const SED = "sed -i --follow-symlinks 's/^SELINUX=.*/SELINUX=permissive/' /etc/selinux/config";

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

  it('still sets the file to permissive on a host where SELinux is disabled now, so a boot with it on does not enforce', () => {
    const c = diffOf(selinux, 'Disabled\nenforcing');
    expect(c?.summary).toBe('SELinux: permissive in /etc/selinux/config');
    expect(stepTexts(c)).toEqual([SED]);
  });

  it('reads the value in any case, as libselinux does', () => {
    expect(stepTexts(diffOf(selinux, 'Permissive\nEnforcing'))).toEqual([SED]);
    expect(diffOf(selinux, 'Permissive\nPERMISSIVE')).toBeUndefined();
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

    it('edits the file through a link and keeps the link (EL 7 links /etc/sysconfig/selinux to it)', () => {
      const root = tmp();
      writeTree(root, { 'real/config': 'SELINUX=Enforcing\nSELINUXTYPE=targeted\n' });
      symlinkSync('real/config', `${root}/selinux-config`);
      const edit = (s: string) => s.replaceAll('/etc/selinux/config', `${root}/selinux-config`);
      const env = fakeTools(root, { getenforce: 'echo Disabled' });
      const steps = stepTexts(diffOf(selinux, observe(selinux, { env, edit })));
      expect(steps).toEqual([SED]);
      sh(edit(steps[0]!));
      expect(lstatSync(`${root}/selinux-config`).isSymbolicLink()).toBe(true);
      expect(readFileSync(`${root}/real/config`, 'utf8')).toBe('SELINUX=permissive\nSELINUXTYPE=targeted\n');
      expect(diffOf(selinux, observe(selinux, { env, edit }))).toBeUndefined();
    });

    it('on this machine (no SELinux tools, no config) there is nothing to do', () => {
      const observed = observe(selinux, { env: { ...process.env, PATH: '/usr/bin:/bin' } });
      expect(observed).toBe('Disabled');
      expect(diffOf(selinux, observed)).toBeUndefined();
    });
  });
});
