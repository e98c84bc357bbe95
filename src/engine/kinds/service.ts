import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { ServiceResource } from '../resource.js';
import type { Kind } from './kind.js';
import { parseUnitState, unitStateProbe } from './unit-state.js';

/** Marks the journal lines a failed start prints, so the engine can show them apart from stderr. */
export const JOURNAL_MARKER = '@@kubestrap-journal';

/** Starts a unit; if that fails, prints the unit's last journal lines and fails. */
export function startWithJournal(action: 'start' | 'restart', unit: string): string {
  const u = shq(unit);
  return `systemctl ${action} ${u} || { rc=$?; echo '${JOURNAL_MARKER}'; journalctl -u ${u} -n 20 --no-pager -o cat 2>&1; exit $rc; }`;
}

export const serviceKind: Kind<ServiceResource> = {
  probe: (r) => unitStateProbe(r.name),
  diff: (r, observed, id) => {
    const state = parseUnitState(observed);
    if (!state.loaded && r.ifPresent) return undefined;
    const unit = shq(r.name);
    const actions: string[] = [];
    const steps: string[] = [];
    if (r.enabled === true && (!state.enabled || state.masked)) {
      actions.push('enable');
      steps.push(state.masked ? `systemctl unmask ${unit} && systemctl enable ${unit}` : `systemctl enable ${unit}`);
    }
    if (r.enabled === false && state.disableable) {
      actions.push('disable');
      steps.push(`systemctl disable ${unit}`);
    }
    if (r.running === true && !state.active) {
      actions.push('start');
      steps.push(startWithJournal('start', r.name));
    }
    if (r.running === false && state.active) {
      actions.push('stop');
      steps.push(`systemctl stop ${unit}`);
    }
    if (actions.length === 0) return undefined;
    const startsOrStops = actions.includes('start') || actions.includes('stop');
    return change(r, id, `${actions.join(' and ')} ${r.name}`, steps.map(script), { stage: 'services', ...(startsOrStops ? { startsOrStops: r.name } : {}) });
  },
};
