import { shq } from '../../ssh/quote.js';

/** What systemd says about a unit: installed at all, enabled at boot, running now. */
export interface UnitState {
  loaded: boolean;
  masked: boolean;
  /** Starts at boot, or needs no enabling (static, generated ...). */
  enabled: boolean;
  /** Enabled by a symlink that `systemctl disable` removes; static units cannot be disabled. */
  disableable: boolean;
  active: boolean;
}

/** The probe's shell variable that holds every declared unit's state, read by one `systemctl show`. */
const UNIT_STATES_VAR = 'ks_unit_states';
const UNIT_SUFFIX = /\.(service|socket|target|timer|mount|automount|path|slice|scope|device|swap)$/;

/**
 * One `systemctl show` for every unit a probe looks at (each call is a D-Bus round trip that costs
 * far more than the lookups): the probe runs this first, and `unitStateProbe` reads from it.
 */
export function unitStatesPrelude(units: readonly string[]): string {
  if (units.length === 0) return '';
  return `${UNIT_STATES_VAR}=$(systemctl show -p Id -p LoadState -p UnitFileState -p ActiveState -- ${[...new Set(units)].map(shq).join(' ')} 2>/dev/null)`;
}

/**
 * Prints `LoadState=... UnitFileState=... ActiveState=...` on one line for `unit`: from the prelude's
 * output when it holds the unit (its block, by Id), else asked of systemd directly (a unit no kind
 * declared, or an alias whose Id is another name).
 */
export function unitStateProbe(unit: string): string {
  const id = `Id=${UNIT_SUFFIX.test(unit) ? unit : `${unit}.service`}`;
  const lookup = `printf '%s\\n' "\${${UNIT_STATES_VAR}:-}" | awk -v id=${shq(id)} 'BEGIN { RS = "" } { n = split($0, f, "\\n"); line = ""; found = 0; for (i = 1; i <= n; i++) { if (f[i] == id) found = 1; else line = line f[i] " " } if (found) { print line; exit } }'`;
  const direct = `systemctl show -p LoadState -p UnitFileState -p ActiveState -- ${shq(unit)} | tr '\\n' ' '; echo`;
  return `ks_state=$(${lookup}); if [ -n "$ks_state" ]; then printf '%s\\n' "$ks_state"; else ${direct}; fi`;
}

/** Unit file states that `systemctl disable` turns off. */
const DISABLEABLE_STATES = new Set(['enabled', 'enabled-runtime', 'linked', 'linked-runtime']);
/** Unit file states that need no `systemctl enable`: static units cannot be enabled and need not be. */
const ENABLED_STATES = new Set([...DISABLEABLE_STATES, 'static', 'indirect', 'generated', 'alias']);

export function parseUnitState(line: string): UnitState {
  const fields = Object.fromEntries(
    line
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('=', 2) as [string, string]),
  );
  const load = fields.LoadState ?? 'not-found';
  return {
    loaded: load === 'loaded' || load === 'masked',
    masked: load === 'masked' || fields.UnitFileState === 'masked',
    enabled: ENABLED_STATES.has(fields.UnitFileState ?? ''),
    disableable: DISABLEABLE_STATES.has(fields.UnitFileState ?? ''),
    active: ['active', 'activating', 'reloading'].includes(fields.ActiveState ?? ''),
  };
}
