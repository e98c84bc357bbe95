import { describe, expect, it } from 'vitest';
import type { SysctlResource } from '../../../src/engine/resource.js';
import { procPath } from '../../../src/engine/kinds/sysctl.js';
import { release } from 'node:os';
import { parseProbe, probeScript } from '../../../src/engine/probe.js';
import { resourceId } from '../../../src/engine/resource.js';
import { debianCtx, diffOf, observe, shRun, stepTexts } from '../support.js';

const sysctl = (key: string, value: string): SysctlResource => ({ kind: 'sysctl', key, value });

describe('procPath', () => {
  it('turns dots into slashes, and keeps a key written with slashes (names with dots, as VLAN interfaces have)', () => {
    expect(procPath('net.ipv4.ip_forward')).toBe('/proc/sys/net/ipv4/ip_forward');
    expect(procPath('net/ipv4/conf/eth0.100/rp_filter')).toBe('/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
  });
});

describe('sysctl kind', () => {
  it('has nothing to do when the value matches', () => {
    expect(diffOf(sysctl('net.ipv4.ip_forward', '1'), '1\nwritable')).toBeUndefined();
  });

  it('compares multi-value settings word by word (the kernel prints tabs)', () => {
    expect(diffOf(sysctl('net.ipv4.ip_local_port_range', '32768 60999'), '32768\t60999\nwritable')).toBeUndefined();
    expect(diffOf(sysctl('net.ipv4.ip_local_port_range', '32768   60999 '), '32768\t60999\nwritable')).toBeUndefined();
    expect(diffOf(sysctl('net.ipv4.ip_local_port_range', '1024 65000'), '32768\t60999\nwritable')?.summary).toBe('sysctl net.ipv4.ip_local_port_range: 32768 60999 → 1024 65000');
  });

  it('sets a different value with sysctl -w and a hint about the key', () => {
    const c = diffOf(sysctl('net.ipv4.ip_forward', '1'), '0\nwritable');
    expect(c?.summary).toBe('sysctl net.ipv4.ip_forward: 0 → 1');
    expect(stepTexts(c)).toEqual(["sysctl -w -- 'net.ipv4.ip_forward=1'"]);
    expect(c?.warning).toBeUndefined();
    expect(c?.failureHint).toBe('check that net.ipv4.ip_forward exists on this kernel (a module may have to be loaded first)');
  });

  it('says when the key is not there yet (module not loaded)', () => {
    const c = diffOf(sysctl('net.bridge.bridge-nf-call-iptables', '1'), 'absent');
    expect(c?.summary).toBe('sysctl net.bridge.bridge-nf-call-iptables: (not present yet) → 1');
    expect(c?.warning).toBeUndefined();
  });

  it('warns about a read-only key and says what to do when it fails', () => {
    const c = diffOf(sysctl('net.ipv4.ip_forward', '1'), '0\nread-only');
    expect(c?.warning).toBe('/proc/sys/net/ipv4/ip_forward is read-only on this host: the kernel will refuse the new value');
    expect(c?.failureHint).toContain('read-only /proc/sys');
  });

  it('quotes a value with spaces in its step', () => {
    expect(stepTexts(diffOf(sysctl('net.ipv4.ip_local_port_range', '1024 65000'), '32768\t60999\nwritable'))).toEqual(["sysctl -w -- 'net.ipv4.ip_local_port_range=1024 65000'"]);
  });

  describe('real probe of /proc/sys on this machine', () => {
    it('reads a tab-separated multi-value key and finds it equal', () => {
      const r = sysctl('net.ipv4.ip_local_port_range', '0 0');
      const observed = observe(r);
      expect(observed).toMatch(/^\d+\t\d+\n(writable|read-only)$/);
      const current = observed.split('\n')[0]!.replace('\t', ' ');
      expect(diffOf(sysctl(r.key, current), observed)).toBeUndefined();
    });

    it('sees a key the kernel does not have as absent', () => {
      const r = sysctl('net.kubestrap.no_such_key', '1');
      expect(observe(r)).toBe('absent');
      expect(diffOf(r, observe(r))?.summary).toContain('(not present yet)');
    });

    it('sees a read-only key (kernel.ostype is 0444) and warns', () => {
      const r = sysctl('kernel.ostype', 'Plan9');
      expect(observe(r)).toBe('Linux\nread-only');
      expect(diffOf(r, observe(r))?.warning).toContain('read-only');
      expect(diffOf(sysctl('kernel.ostype', 'Linux'), observe(r))).toBeUndefined();
    });
  });

  it('reads several keys with one process, each its own value', () => {
    const rs = [sysctl('kernel.ostype', 'Linux'), sysctl('net.kubestrap.no_such_key', '1'), sysctl('net.ipv4.ip_local_port_range', '0 0'), sysctl('kernel/osrelease', 'x')];
    const script = probeScript(rs, debianCtx);
    // The values by one grep, whatever the number of keys; no cat.
    expect(script.match(/\bgrep\b/g)).toHaveLength(1);
    expect(script).not.toMatch(/\bcat \S*\/proc\//);
    const observed = parseProbe(shRun(script).stdout, rs).observed;
    expect(rs.map((r) => observed.get(resourceId(r)))).toEqual(['Linux\nread-only', 'absent', expect.stringMatching(/^\d+\t\d+\n(writable|read-only)$/), `${release()}\nread-only`]);
  });
});
