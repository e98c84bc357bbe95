import { Writable } from 'node:stream';
import type { BuiltHelp } from './fast-help.js';
import { main } from './main.js';

/** Widths tried for the one from which the help no longer wraps (commander's default is 80). */
const NARROW = 80;
const WIDEST = 400;

/** `bootstrap --help` as commander prints it to a terminal `columns` wide (undefined: not a terminal). */
export async function commanderHelp(columns: number | undefined): Promise<string> {
  const chunks: string[] = [];
  const stdout = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    columns === undefined ? {} : { isTTY: true, columns },
  );
  const code = await main(['--help'], { stdout, stderr: stdout });
  if (code !== 0) throw new Error(`bootstrap --help exited ${code}: ${chunks.join('')}`);
  return chunks.join('');
}

/** What `npm run build` writes to dist/help.json for the launcher (fast-help.ts). */
export async function renderBuiltHelp(): Promise<BuiltHelp> {
  const wide = await commanderHelp(WIDEST);
  let wideFrom = WIDEST;
  while (wideFrom > NARROW + 1 && (await commanderHelp(wideFrom - 1)) === wide) wideFrom--;
  return { narrowWidth: NARROW, narrow: await commanderHelp(undefined), wideFrom, wide };
}
