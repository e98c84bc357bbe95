import { describe, expect, it } from 'vitest';
import type { FirewallOffResource } from '../../../src/engine/resource.js';
import { useTempDir } from '../../support/tmp.js';
import { diffOf, fakeSystemctl, fakeTools, observe, stepTexts } from '../support.js';

const debianFirewalls: FirewallOffResource = { kind: 'firewallOff', services: ['ufw', 'firewalld'] };
const elFirewalls: FirewallOffResource = { kind: 'firewallOff', services: ['firewalld'] };
const NOT_FOUND = 'LoadState=not-found UnitFileState= ActiveState=inactive ';

describe('firewallOff kind', () => {
  it('stops and disables an active, enabled firewalld', () => {
    const c = diffOf(elFirewalls, 'firewalld LoadState=loaded UnitFileState=enabled ActiveState=active ');
    expect(c?.summary).toBe('firewall: stop and disable firewalld');
    expect(stepTexts(c)).toEqual(['systemctl disable --now -- firewalld']);
    expect(c?.resourceId).toBe('firewallOff');
  });

  it('also handles a firewall that is only enabled, or only running', () => {
    expect(diffOf(elFirewalls, 'firewalld LoadState=loaded UnitFileState=enabled ActiveState=inactive ')).toBeDefined();
    expect(diffOf(elFirewalls, 'firewalld LoadState=loaded UnitFileState=disabled ActiveState=active ')).toBeDefined();
  });

  it('turns off ufw by its own switch first, then its service', () => {
    const observed = ['ufw LoadState=loaded UnitFileState=enabled ActiveState=active ', `firewalld ${NOT_FOUND}`, 'ufw-Status: active'].join('\n');
    const c = diffOf(debianFirewalls, observed);
    expect(c?.summary).toBe('firewall: turn off ufw, stop and disable ufw');
    expect(stepTexts(c)).toEqual(['ufw --force disable', 'systemctl disable --now -- ufw']);
  });

  it('ignores firewalls that are not installed, masked, or already off', () => {
    expect(diffOf(debianFirewalls, [`ufw ${NOT_FOUND}`, `firewalld ${NOT_FOUND}`].join('\n'))).toBeUndefined();
    expect(diffOf(elFirewalls, 'firewalld LoadState=masked UnitFileState=masked ActiveState=inactive ')).toBeUndefined();
    const off = ['ufw LoadState=loaded UnitFileState=disabled ActiveState=inactive ', `firewalld ${NOT_FOUND}`, 'ufw-Status: inactive'].join('\n');
    expect(diffOf(debianFirewalls, off)).toBeUndefined();
  });

  describe('real probe with fake systemctl and ufw', () => {
    const tmp = useTempDir();

    it('prints a line per service and the ufw status, which diff reads back', () => {
      const env = fakeTools(tmp(), {
        systemctl: fakeSystemctl({ ufw: { load: 'loaded', file: 'enabled', active: 'active' } }),
        ufw: '[ "$1" = status ] && printf "Status: active\\n\\nTo Action From\\n"',
      });
      const observed = observe(debianFirewalls, { env });
      expect(observed.split('\n')).toEqual(['ufw LoadState=loaded UnitFileState=enabled ActiveState=active ', `firewalld ${NOT_FOUND}`, 'ufw-Status: active']);
      expect(stepTexts(diffOf(debianFirewalls, observed))).toEqual(['ufw --force disable', 'systemctl disable --now -- ufw']);
    });

    it('finds nothing to do on a host without ufw whose firewalld is not installed', () => {
      const env = fakeTools(tmp(), { systemctl: fakeSystemctl({}) });
      const observed = observe(elFirewalls, { env: { ...env, PATH: `${tmp()}/bin:/usr/bin:/bin` } });
      expect(observed).toBe(`firewalld ${NOT_FOUND}`);
      expect(diffOf(elFirewalls, observed)).toBeUndefined();
    });
  });
});
