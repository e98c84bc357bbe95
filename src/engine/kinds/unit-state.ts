import { shq } from '../../ssh/quote.js';

/** What systemd says about a unit: installed at all, enabled at boot, running now. */
export interface UnitState {
  loaded: boolean;
  masked: boolean;
  enabled: boolean;
  active: boolean;
}

/** Prints `LoadState=... UnitFileState=... ActiveState=...` on one line for `unit`. */
export function unitStateProbe(unit: string): string {
  return `systemctl show -p LoadState -p UnitFileState -p ActiveState -- ${shq(unit)} | tr '\\n' ' '; echo`;
}

/** Unit file states that mean "starts at boot" (static units cannot be enabled and need not be). */
const ENABLED_STATES = new Set(['enabled', 'enabled-runtime', 'static', 'indirect', 'generated', 'alias', 'linked', 'linked-runtime']);

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
    active: ['active', 'activating', 'reloading'].includes(fields.ActiveState ?? ''),
  };
}
