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
 * `ks_unit_state Id=<unit>`: that unit's block of the prelude's answer on one line, its properties
 * space-separated; exit 1 when the answer has no block with that Id. Shell builtins only (pattern
 * expansions and field splitting), no `awk` and no subshell per unit: a probe looks at several units
 * on every host, and each fork is host CPU a no-op pays.
 */
const UNIT_STATE_FUNCTION = [
  'ks_unit_state() {',
  "  ks_nl='",
  "'",
  `  ks_all="$ks_nl\${${UNIT_STATES_VAR}:-}$ks_nl$ks_nl"`,
  '  case "$ks_all" in *"$ks_nl$1$ks_nl"*) ;; *) return 1 ;; esac',
  // The block's lines before the Id line (none when a blank line precedes it) and after it (none when one follows).
  '  ks_before=${ks_all%%"$ks_nl$1$ks_nl"*}',
  '  case "$ks_before" in *"$ks_nl") ks_before= ;; *) ks_before=${ks_before##*"$ks_nl$ks_nl"} ;; esac',
  '  ks_after=${ks_all#*"$ks_nl$1$ks_nl"}',
  '  case "$ks_after" in "$ks_nl"*) ks_after= ;; *) ks_after=${ks_after%%"$ks_nl$ks_nl"*} ;; esac',
  '  ks_ifs=$IFS; IFS=$ks_nl; set -f; set -- $ks_before $ks_after; set +f; IFS=\' \'; ks_line="$*"; IFS=$ks_ifs',
  '  printf \'%s\\n\' "$ks_line"',
  '}',
].join('\n');

/**
 * One `systemctl show` for every unit a probe looks at (each call is a D-Bus round trip that costs
 * far more than the lookups), and the lookup `unitStateProbe` reads it with: the probe runs this
 * first.
 */
export function unitStatesPrelude(units: readonly string[]): string {
  if (units.length === 0) return UNIT_STATE_FUNCTION;
  return `${UNIT_STATE_FUNCTION}\n${UNIT_STATES_VAR}=$(systemctl show -p Id -p LoadState -p UnitFileState -p ActiveState -- ${[...new Set(units)].map(shq).join(' ')} 2>/dev/null)`;
}

/**
 * Prints `LoadState=... UnitFileState=... ActiveState=...` on one line for `unit`: from the prelude's
 * output when it holds the unit (its block, by Id), else asked of systemd directly (a unit no kind
 * declared, or an alias whose Id is another name).
 */
export function unitStateProbe(unit: string): string {
  const id = `Id=${UNIT_SUFFIX.test(unit) ? unit : `${unit}.service`}`;
  const direct = `systemctl show -p LoadState -p UnitFileState -p ActiveState -- ${shq(unit)} | tr '\\n' ' '; echo`;
  return `ks_unit_state ${shq(id)} || { ${direct}; }`;
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
