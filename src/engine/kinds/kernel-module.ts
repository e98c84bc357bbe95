import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { KernelModuleResource } from '../resource.js';
import type { Kind } from './kind.js';

/**
 * An extended regex for a module's file in modules.builtin and modules.dep (`kernel/.../ip_vs.ko`,
 * compressed or not), whichever of `-` and `_` its file name uses: the kernel treats them alike.
 */
export function moduleFilePattern(name: string): string {
  const files = [...new Set([name, name.replace(/-/g, '_'), name.replace(/_/g, '-')])].join('|');
  return `/(${files})\\.ko(\\.(gz|xz|zst))?`;
}

/**
 * A module counts as loaded when the kernel lists it, or when it is built into the kernel (then it
 * never shows in /proc/modules, and modprobe has nothing to do). All of a host's modules are probed
 * together: a loaded module has its folder in /sys/module (no process); only when one has none, one
 * grep reads /proc/modules and the running kernel's modules.builtin for all of them. Each module's
 * observed text: `loaded` or `absent`.
 */
export const kernelModuleKind: Kind<KernelModuleResource> = {
  batch: {
    probe: (rs) => {
      const underscored = (r: KernelModuleResource) => r.name.replace(/-/g, '_');
      const listed = `^(${[...new Set(rs.map(underscored))].join('|')}) `;
      const files = rs.map((r) => `${moduleFilePattern(r.name)}$`).join('|');
      return [
        'ks_km=',
        ...rs.map((r, i) => `if [ -d ${shq(`/sys/module/${underscored(r)}`)} ]; then echo '${i} loaded'; else ks_km=1; fi`),
        // The kernel's release by the shell's read, not $(uname -r).
        `[ -z "$ks_km" ] || { IFS= read -r ks_kr < /proc/sys/kernel/osrelease; grep -hE ${shq(`${listed}|${files}`)} /proc/modules "/lib/modules/$ks_kr/modules.builtin"; }`,
      ].join('\n');
    },
    split: (output, rs) => {
      const lines = output.split('\n');
      return rs.map((r, i) => {
        const underscore = r.name.replace(/-/g, '_');
        const file = new RegExp(`${moduleFilePattern(r.name)}$`);
        return lines.some((l) => l === `${i} loaded` || l.startsWith(`${underscore} `) || file.test(l)) ? 'loaded' : 'absent';
      });
    },
  },
  diff: (r, observed, id) =>
    observed.trim() === 'loaded'
      ? undefined
      : change(r, id, `load kernel module ${r.name}`, [script(`modprobe -- ${shq(r.name)}`)], {
          failureHint: `install the kernel's module package or a kernel that provides ${r.name}`,
        }),
};
