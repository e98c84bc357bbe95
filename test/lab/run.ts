import { $ } from 'zx/core';

/**
 * The one way the lab runs local commands: zx with arguments quoted for us, and no echo of every
 * command (a lab `up` runs hundreds of them and the interesting output is the failure's stderr,
 * which zx puts into the thrown error).
 */
export const sh = $({ quiet: true, verbose: false });

/** Same, but a non-zero exit is a result to inspect, not an error. */
export const shTry = $({ quiet: true, verbose: false, nothrow: true });
