/**
 * Whether to skip tests whose prerequisite is missing. Under CI a missing prerequisite is a
 * failure, never a silent skip; elsewhere the skip is announced.
 */
export function skipUnlessAvailable(available: boolean, what: string): boolean {
  if (available) return false;
  if (process.env.CI === 'true') throw new Error(`${what} is required under CI=true but is missing`);
  console.warn(`skipping: ${what} is missing`);
  return true;
}
