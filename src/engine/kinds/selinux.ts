import { change, script } from '../change.js';
import type { SelinuxResource } from '../resource.js';
import type { Kind } from './kind.js';

const CONFIG = '/etc/selinux/config';

/**
 * SELinux permissive now (setenforce) and after reboots (/etc/selinux/config). A host where SELinux
 * is disabled already satisfies it: permissive means "not enforcing", and enabling it would need a
 * relabel and a reboot.
 */
export const selinuxKind: Kind<SelinuxResource> = {
  probe: () => `if command -v getenforce >/dev/null; then getenforce; else echo Disabled; fi\nsed -n 's/^SELINUX=//p' ${CONFIG}`,
  diff: (r, observed, id) => {
    const [runtime = '', configured = ''] = observed.split('\n').map((l) => l.trim());
    const steps: string[] = [];
    const actions: string[] = [];
    if (runtime === 'Enforcing') {
      actions.push('permissive now');
      steps.push('setenforce 0');
    }
    if (configured === 'enforcing') {
      actions.push(`permissive in ${CONFIG}`);
      // sed -i writes a new file and renames it over the old one.
      steps.push(`sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' ${CONFIG}`);
    }
    if (steps.length === 0) return undefined;
    return change(r, id, `SELinux: ${actions.join(', ')}`, steps.map(script));
  },
};
