import { KubestrapError } from '../errors.js';

/** The command line itself is wrong: a missing or contradictory option. */
export class UsageError extends KubestrapError {
  readonly kind = 'usage';

  where(): string {
    return '';
  }
}
