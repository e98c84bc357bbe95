import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { KernelModuleResource } from '../resource.js';
import type { Kind } from './kind.js';

/**
 * A module counts as loaded when the kernel lists it, or when it is built into the kernel (then it
 * never shows in /proc/modules, and modprobe has nothing to do).
 */
export const kernelModuleKind: Kind<KernelModuleResource> = {
  probe: (r) => {
    const underscore = r.name.replace(/-/g, '_');
    const files = [...new Set([r.name, underscore, r.name.replace(/_/g, '-')])].join('|');
    return [
      // A loaded module has its folder in /sys/module: a no-op run starts no process here.
      `if [ -d ${shq(`/sys/module/${underscore}`)} ] || grep -q ${shq(`^${underscore} `)} /proc/modules ||`,
      `  grep -qE ${shq(`/(${files})\\.ko(\\.(gz|xz|zst))?$`)} "/lib/modules/$(uname -r)/modules.builtin"; then echo loaded; else echo absent; fi`,
    ].join('\n');
  },
  diff: (r, observed, id) =>
    observed.trim() === 'loaded'
      ? undefined
      : change(r, id, `load kernel module ${r.name}`, [script(`modprobe -- ${shq(r.name)}`)], {
          failureHint: `install the kernel's module package or a kernel that provides ${r.name}`,
        }),
};
