import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A stream that keeps what is written to it in `into`, as text. */
export function sink(into: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      into.push(chunk.toString());
      done();
    },
  });
}

/** Runs the CLI in-process with captured output. */
export async function runCli(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: sink(out), stderr: sink(err) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
