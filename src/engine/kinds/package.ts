import { change, script } from '../change.js';
import type { PackageResource } from '../resource.js';
import type { Kind } from './kind.js';

/** Downloads over a slow mirror and a busy host's unpacking (docker.io alone is 60 MB): more than a command's usual two minutes. */
export const INSTALL_TIMEOUT_SEC = 900;

export const packageKind: Kind<PackageResource> = {
  // One query of the package database for all of a host's packages (each a process or two, and
  // dpkg-query reads dpkg's whole status file); each resource reads its own names in the answer.
  batch: {
    probe: (rs, ctx) => ctx.packages.probePackages([...new Set(rs.flatMap((r) => r.names))]),
    split: (output, rs) => rs.map(() => output),
  },
  diff: (r, observed, id, ctx) => {
    const installed = new Set(observed.split('\n').map((l) => l.trim().split(/\s+/)[0]));
    const missing = r.names.filter((n) => !installed.has(n));
    if (missing.length === 0) return undefined;
    const summary = `install package${missing.length === 1 ? '' : 's'} ${missing.join(', ')} with ${ctx.packages.packageManager}`;
    return change(r, id, summary, [script(ctx.packages.installPackages(missing))], {
      failureHint: ctx.packages.installFailureHint,
      timeoutSec: INSTALL_TIMEOUT_SEC,
      ...(r.why ? { detail: r.why } : {}),
    });
  },
};
