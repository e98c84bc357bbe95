import { COMPONENT_NAMES, component, type ComponentName } from './catalog.js';

/** A unit's drop-in (`/etc/systemd/system/<unit>.d/*.conf`) changes that unit's service: it goes with the unit. */
const DROP_IN = /^(\/etc\/systemd\/system\/[^/]+\.service)\.d\/[^/]+\.conf$/;

/** Whether `owned` (a path, or a prefix ending in `/`, `-` or `.`) covers `path`. */
function covers(owned: string, path: string): boolean {
  return /[/.-]$/.test(owned) ? path.startsWith(owned) : path === owned;
}

/**
 * The component that owns a rendered file, by its path on the host; undefined for a file of the
 * template tree's own that no component claims.
 */
export function componentOfFile(path: string): ComponentName | undefined {
  const target = DROP_IN.exec(path)?.[1] ?? path;
  return COMPONENT_NAMES.find((name) => component(name).files.some((owned) => covers(owned, target)));
}
