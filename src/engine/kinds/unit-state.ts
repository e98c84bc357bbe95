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

/** Prints `LoadState=... UnitFileState=... ActiveState=...` on one line for `unit`. */
export function unitStateProbe(unit: string): string {
  return `systemctl show -p LoadState -p UnitFileState -p ActiveState -- ${shq(unit)} | tr '\\n' ' '; echo`;
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
