import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package's root folder, from src/ (tsx, tests) and dist/ (built) alike: both sit one level down. */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The unit templates shipped with kubestrap. */
export const BUNDLED_UNITS = fileURLToPath(new URL('../units', import.meta.url));

/** kubestrap's version, as package.json says: one place to bump. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
