/**
 * Kept for test/e2e, which imports HOST_PATHS from here: the paths live in the component catalog
 * (src/components/paths.ts). To go once those imports move there.
 */
export { HOST_PATHS, type HostPaths } from '../components/paths.js';
