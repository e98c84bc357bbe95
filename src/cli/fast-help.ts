import { readFileSync } from 'node:fs';

/**
 * `bootstrap --help` without loading the CLI (issue 25 part 3: under 0.15 s, where importing
 * commander and building the program cost more than Node's own start): the launcher prints the
 * top-level help that `npm run build` rendered with commander (built-help.ts) into dist/help.json.
 * This module is a bundle entry of its own and imports nothing else, so the launcher reads only it.
 */

/** The top-level help as commander prints it at `narrowWidth` columns, and at any width from `wideFrom` on (nothing wraps any more). */
export interface BuiltHelp {
  narrowWidth: number;
  narrow: string;
  wideFrom: number;
  wide: string;
}

/** Arguments that print the top-level help, all the same text. */
const HELP_ARGS = ['--help', '-h', 'help'];

/** The built text for a terminal this wide (undefined: not a terminal, where commander uses 80), or undefined where commander would wrap otherwise. */
export function chooseHelp(help: BuiltHelp, columns: number | undefined): string | undefined {
  const width = columns ?? 80;
  if (width === help.narrowWidth) return help.narrow;
  return width >= help.wideFrom ? help.wide : undefined;
}

interface HelpOut {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** Prints the built help and returns true when `argv` asks for the top-level help and the build has it for this output's width. */
export function printBuiltHelp(argv: readonly string[], out: HelpOut, file: URL = new URL('./help.json', import.meta.url)): boolean {
  if (argv.length !== 1 || !HELP_ARGS.includes(argv[0]!)) return false;
  let help: BuiltHelp;
  try {
    help = JSON.parse(readFileSync(file, 'utf8')) as BuiltHelp;
  } catch {
    // No build output (running from src/): the CLI renders it.
    return false;
  }
  const text = chooseHelp(help, out.isTTY ? out.columns : undefined);
  if (text === undefined) return false;
  out.write(text);
  return true;
}
