import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { KernelModuleResource } from '../../../src/engine/resource.js';
import { useTempDir, writeTree } from '../../support/tmp.js';
import { parseProbe, probeScript } from '../../../src/engine/probe.js';
import { resourceId } from '../../../src/engine/resource.js';
import { debianCtx, diffOf, fakeTools, observe, sh, shRun, stepTexts } from '../support.js';

const mod = (name: string): KernelModuleResource => ({ kind: 'kernelModule', name });

describe('kernelModule kind', () => {
  it('has nothing to do for a loaded module', () => {
    expect(diffOf(mod('br_netfilter'), 'loaded')).toBeUndefined();
  });

  it('loads an absent module with modprobe and a hint about the module package', () => {
    const c = diffOf(mod('br_netfilter'), 'absent');
    expect(c?.summary).toBe('load kernel module br_netfilter');
    expect(stepTexts(c)).toEqual(['modprobe -- br_netfilter']);
    expect(c?.failureHint).toContain('provides br_netfilter');
    expect(c?.resourceId).toBe('module:br_netfilter');
  });

  describe('real probe', () => {
    const tmp = useTempDir();
    /** Points the probe's /proc/modules, /sys/module and /lib/modules at a fake tree. */
    const inTree = (root: string) => (s: string) =>
      s.replaceAll('/proc/modules', `${root}/proc/modules`).replaceAll('/sys/module/', `${root}/sys/module/`).replaceAll('"/lib/modules/', `"${root}/lib/modules/`);

    it('finds modules in /proc/modules (dashes as underscores), /sys/module and modules.builtin', () => {
      const root = tmp();
      const kernel = sh('uname -r').trim();
      writeTree(root, {
        'proc/modules': 'nf_conntrack 180224 1 - Live 0x0\nbr_netfilter 32768 0 - Live 0x0\n',
        'sys/module/overlay/parameters/x': '',
        [`lib/modules/${kernel}/modules.builtin`]: 'kernel/net/ipv4/ip_vs_rr.ko\nkernel/fs/fuse/fuse.ko\n',
      });
      for (const name of ['br_netfilter', 'nf-conntrack', 'overlay', 'ip_vs_rr', 'ip-vs-rr']) {
        expect(observe(mod(name), { edit: inTree(root) }), name).toBe('loaded');
      }
      expect(observe(mod('br_netfilte'), { edit: inTree(root) })).toBe('absent');
      expect(observe(mod('ip_vs'), { edit: inTree(root) })).toBe('absent');
    });

    it('probes several modules at once: no process while each has its folder in /sys/module, one grep for all otherwise', () => {
      const root = tmp();
      const kernel = sh('uname -r').trim();
      writeTree(root, {
        'proc/modules': 'br_netfilter 32768 0 - Live 0x0\n',
        'sys/module/overlay/parameters/x': '',
        'sys/module/nf_conntrack/parameters/x': '',
        [`lib/modules/${kernel}/modules.builtin`]: 'kernel/net/ipv4/ip_vs_rr.ko\n',
      });
      const probed = (rs: KernelModuleResource[]) => {
        const script = inTree(root)(probeScript(rs, debianCtx));
        const observed = parseProbe(shRun(script).stdout, rs).observed;
        return { states: rs.map((r) => observed.get(resourceId(r))), script };
      };
      const mods = ['overlay', 'nf-conntrack', 'br_netfilter', 'ip-vs-rr', 'ip_vs'].map(mod);
      const all = probed(mods);
      expect(all.states).toEqual(['loaded', 'loaded', 'loaded', 'loaded', 'absent']);
      expect(all.script.match(/\bgrep\b/g)).toHaveLength(1);
      expect(all.script).not.toContain('uname');
      // Only loaded modules with folders: the grep does not run.
      const fake = fakeTools(tmp(), { grep: 'echo ran >&2; exit 1' });
      expect(shRun(probed(mods.slice(0, 2)).script, fake).stderr).toBe('');
    });

    it('on this machine: a nonexistent module is absent', () => {
      const r = mod('kubestrap_no_such_module');
      expect(observe(r)).toBe('absent');
      expect(diffOf(r, observe(r))?.summary).toBe('load kernel module kubestrap_no_such_module');
      if (existsSync('/sys/module/block')) expect(observe(mod('block'))).toBe('loaded');
    });
  });
});
