import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { FirewallOffResource } from '../resource.js';
import type { Kind } from './kind.js';
import { parseUnitState, unitStateProbe } from './unit-state.js';

/**
 * Every firewall service the OS family may run is stopped and disabled: a host firewall cuts etcd's
 * and the kubelet's ports between cluster members (the seeds' most common trap). ufw additionally
 * keeps its own "enabled" switch, which `ufw disable` turns off.
 */
export const firewallOffKind: Kind<FirewallOffResource> = {
  probe: (r) => [...r.services.map((s) => `printf '%s ' ${shq(s)}; ${unitStateProbe(s)}`), `command -v ufw >/dev/null && ufw status | head -n 1 | sed 's/^/ufw-/'`].join('\n'),
  units: (r) => r.services,
  diff: (r, observed, id) => {
    const lines = observed.split('\n');
    const steps: string[] = [];
    const actions: string[] = [];
    if (lines.some((l) => /^ufw-Status: active/.test(l))) {
      actions.push('turn off ufw');
      steps.push('ufw --force disable');
    }
    for (const service of r.services) {
      const line = lines.find((l) => l.startsWith(`${service} `));
      const state = parseUnitState(line?.slice(service.length) ?? '');
      if (!state.loaded || (!state.disableable && !state.active)) continue;
      actions.push(`stop and disable ${service}`);
      steps.push(`systemctl disable --now -- ${shq(service)}`);
    }
    if (steps.length === 0) return undefined;
    return change(r, id, `firewall: ${actions.join(', ')}`, steps.map(script));
  },
};
