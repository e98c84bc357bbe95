import { shq } from '../../ssh/quote.js';
import { change, script } from '../change.js';
import type { ReadinessCheck, ServiceResource } from '../resource.js';
import type { Kind } from './kind.js';
import { parseUnitState, unitStateProbe } from './unit-state.js';

/** Marks the journal lines a failed start prints, so the engine can show them apart from stderr. */
export const JOURNAL_MARKER = '@@kubestrap-journal';

/** Precedes the line that says a started service did not become ready: the engine's error message. */
export const NOT_READY_MARKER = '@@kubestrap-not-ready';

/**
 * Starts a unit and, given a readiness check, waits for it in the same command (no round trip per
 * poll). If the start fails, the unit fails while waiting, or the wait times out, prints the unit's
 * last journal lines and fails.
 */
export function startWithJournal(action: 'start' | 'restart', unit: string, ready?: ReadinessCheck): string {
  const u = shq(unit);
  const journal = `echo '${JOURNAL_MARKER}'; journalctl -u ${u} -n 20 --no-pager -o cat 2>&1`;
  const start = `systemctl ${action} -- ${u} || { rc=$?; ${journal}; exit $rc; }`;
  if (!ready) return start;
  const notReady = (why: string) => `{ printf '%s %s\\n' '${NOT_READY_MARKER}' ${shq(`${unit} ${why}`)}; ${journal}; exit 1; }`;
  // A unit that keeps exiting (systemd restarting it twice in a row) will not become ready: say so now, not at the timeout.
  return [
    start,
    'ks_waited=0; ks_crashed=0',
    `until ( ${ready.check} ) >/dev/null 2>&1; do`,
    `  systemctl is-failed -q -- ${u} && ${notReady(`failed while kubestrap waited for it to be ready (${ready.description})`)}`,
    `  if systemctl show -p SubState -- ${u} | grep -qx SubState=auto-restart; then ks_crashed=$((ks_crashed + 1)); else ks_crashed=0; fi`,
    `  [ "$ks_crashed" -ge 2 ] && ${notReady(`keeps exiting (systemd is restarting it) while kubestrap waited for it to be ready (${ready.description})`)}`,
    `  [ "$ks_waited" -ge ${ready.timeoutSec} ] && ${notReady(`is not ready after ${ready.timeoutSec} s (${ready.description})`)}`,
    '  ks_waited=$((ks_waited + 1)); sleep 1',
    'done',
  ].join('\n');
}

export const serviceKind: Kind<ServiceResource> = {
  probe: (r) => unitStateProbe(r.name),
  units: (r) => [r.name],
  diff: (r, observed, id) => {
    const state = parseUnitState(observed);
    if (!state.loaded && r.ifPresent) return undefined;
    const unit = shq(r.name);
    const actions: string[] = [];
    const steps: string[] = [];
    if (r.enabled === true && (!state.enabled || state.masked)) {
      actions.push('enable');
      steps.push(state.masked ? `systemctl unmask -- ${unit} && systemctl enable -- ${unit}` : `systemctl enable -- ${unit}`);
    }
    if (r.enabled === false && state.disableable) {
      actions.push('disable');
      steps.push(`systemctl disable -- ${unit}`);
    }
    if (r.running === true && !state.active) {
      actions.push('start');
      steps.push(startWithJournal('start', r.name, r.ready));
    }
    if (r.running === false && state.active) {
      actions.push('stop');
      steps.push(`systemctl stop -- ${unit}`);
    }
    if (actions.length === 0) return undefined;
    const startsOrStops = actions.includes('start') || actions.includes('stop');
    return change(r, id, `${actions.join(' and ')} ${r.name}`, steps.map(script), { stage: 'services', ...(startsOrStops ? { startsOrStops: r.name } : {}) });
  },
};
