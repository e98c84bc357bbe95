import type { SshTarget } from '../ssh/target.js';

/**
 * What the engine knows of a host: a name for ids and reports, its address, and how to reach it.
 * Callers hand it their own richer host type (roles, properties); the engine passes that through to
 * their phases untouched and reads only these fields.
 */
export interface TargetHost {
  readonly name: string;
  readonly address: string;
  readonly ssh: SshTarget;
}
