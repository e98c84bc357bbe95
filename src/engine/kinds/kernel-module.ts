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
 * never shows in /proc/modules, and modprobe has nothing to do).
 */
export const kernelModuleKind: Kind<KernelModuleResource> = {
  probe: (r) => {
    const underscore = r.name.replace(/-/g, '_');
    return [
      // A loaded module has its folder in /sys/module: a no-op run starts no process here.
      `if [ -d ${shq(`/sys/module/${underscore}`)} ] || grep -q ${shq(`^${underscore} `)} /proc/modules ||`,
      `  grep -qE ${shq(`${moduleFilePattern(r.name)}$`)} "/lib/modules/$(uname -r)/modules.builtin"; then echo loaded; else echo absent; fi`,
    ].join('\n');
  },
  diff: (r, observed, id) =>
    observed.trim() === 'loaded'
      ? undefined
      : change(r, id, `load kernel module ${r.name}`, [script(`modprobe -- ${shq(r.name)}`)], {
          failureHint: `install the kernel's module package or a kernel that provides ${r.name}`,
        }),
};
