import { shJoin } from '../../src/ssh/quote.js';

/**
 * The shell line `npm run lab -- exec H -- CMD...` runs in a host: each argument quoted, so it
 * arrives as the one word it was on this side (`grep -E 'a|b' f` greps, it does not pipe). A shell
 * line with pipes or redirections is one argument to `sh -c`.
 */
export function execLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('exec needs a command after --');
  return shJoin(argv);
}
