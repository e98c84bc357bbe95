/** The error of class `kind` that `run` throws; any other outcome fails the test, saying what was accepted. */
export function refusal<E extends Error>(kind: abstract new (...args: never[]) => E, run: () => unknown, accepted: string): E {
  try {
    run();
  } catch (err) {
    if (err instanceof kind) return err;
    throw err;
  }
  throw new Error(`${accepted} was accepted`);
}
