/**
 * POSIX shell quoting.
 *
 * Why not zx's `quote`: it emits bash's ANSI-C form `$'...'` for any value with a space or quote.
 * Our scripts run under `sh -c`, and on Debian/Ubuntu `sh` is dash, which does not know `$'...'`
 * (dash 0.5.12 turns `$'a b'` into the literal text `$a b`). Plain single quotes are understood by
 * every Bourne shell and every login shell we meet (bash, dash, ash, zsh), and inside them nothing
 * is special except the single quote itself, which we close, escape and reopen.
 */
export function shq(value: string): string {
  if (value !== '' && /^[\w/.,:@%+-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each value and joins them with spaces: `shJoin(['chmod', '0644', path])`. */
export function shJoin(values: readonly string[]): string {
  return values.map(shq).join(' ');
}
