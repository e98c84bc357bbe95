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
 * Follows the not-ready line: the readiness check's last exit code and its command, then what it
 * last printed, indented (so none of its lines reads as a marker).
 */
export const CHECK_MARKER = '@@kubestrap-check';

/** What a readiness check's exit code 127 means in sh: a command it runs is not installed. */
const COMMAND_NOT_FOUND = 127;

/**
 * How long a start or restart with a readiness check may take, on top of the wait itself:
 * systemctl's own start (a unit's ExecStartPre) and the journal printed on failure.
 */
export const START_SLACK_SEC = 60;

/** The time a command needs that starts a service and waits for `ready`. */
export function startTimeoutSec(ready: ReadinessCheck | undefined): number | undefined {
  return ready ? ready.timeoutSec + START_SLACK_SEC : undefined;
}

/**
 * Starts (restarts, reloads) a unit and, given a readiness check, waits for it in the same command (no round trip per
 * poll). If the start fails, the unit fails while waiting, the check cannot run (a command it uses
 * is missing) or the wait times out, prints why, the check with its last exit code and output, and
 * the unit's last journal lines, and fails.
 */
export function startWithJournal(action: 'start' | 'restart' | 'reload', unit: string, ready?: ReadinessCheck): string {
  const u = shq(unit);
  const journal = `echo '${JOURNAL_MARKER}'; journalctl -u ${u} -n 20 --no-pager -o cat 2>&1`;
  const start = `systemctl ${action} -- ${u} || { rc=$?; ${journal}; exit $rc; }`;
  if (!ready) return start;
  const lastCheck = `printf '%s %s %s\\n' '${CHECK_MARKER}' "$ks_rc" ${shq(ready.check.replace(/\s*\n\s*/g, ' '))}; printf '%s\\n' "$ks_out" | tail -n 10 | sed 's/^/  /'`;
  const notReady = (why: string) => `{ printf '%s %s\\n' '${NOT_READY_MARKER}' ${shq(`${unit} ${why}`)}; ${lastCheck}; ${journal}; exit 1; }`;
  // A unit that keeps exiting (systemd restarting it twice in a row) will not become ready: say so now, not at the timeout.
  return [
    start,
    'ks_waited=0; ks_crashed=0',
    `until ks_out=$( ( ${ready.check} ) 2>&1 </dev/null ); do`,
    '  ks_rc=$?',
    // Waiting cannot help when the check itself cannot run.
    `  [ "$ks_rc" -eq ${COMMAND_NOT_FOUND} ] && ${notReady(`cannot be checked: its readiness check (${ready.description}) runs a command this host does not have`)}`,
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
    const waits = actions.includes('start') ? startTimeoutSec(r.ready) : undefined;
    return change(r, id, `${actions.join(' and ')} ${r.name}`, steps.map(script), {
      stage: 'services',
      ...(startsOrStops ? { startsOrStops: r.name } : {}),
      ...(waits ? { timeoutSec: waits } : {}),
    });
  },
};
