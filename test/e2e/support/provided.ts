import type { LabInfo } from '../../lab/index.js';

/** What test/e2e/global-setup.ts hands to e2e test files (via `inject`). */
declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared e2e lab (bridge + repo, no hosts), or null when the suite is skipped on this machine. */
    lab: LabInfo | null;
    /** The offline artifact bundle dir (real etcd, Kubernetes stand-ins), or null when skipped. */
    bundleDir: string | null;
  }
}
