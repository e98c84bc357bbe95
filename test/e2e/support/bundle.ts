import { join } from 'node:path';
import { loadManifest, MANIFEST_FILE } from '../../../src/artifacts/manifest.js';

/** The lab bundle's file for a component (a binary or an image), and the version it holds. */
export function bundleFile(bundleDir: string, component: string): { file: string; version: string } {
  const loaded = loadManifest(join(bundleDir, MANIFEST_FILE));
  const entry = loaded.manifest.artifacts.find((a) => a.component === component);
  if (!entry?.file) throw new Error(`the lab bundle ${bundleDir} has no ${component}`);
  return { file: join(bundleDir, entry.file), version: entry.version };
}
