import { join } from 'node:path';
import { loadManifest, MANIFEST_FILE } from '../../../src/artifacts/manifest.js';
import { PROJECT_VERSION_KEYS } from '../../../src/config/project-versions.js';
import type { Project } from '../../../src/upstream/index.js';

/** The lab bundle's file for a component (a binary or an image), and the version it holds. */
export function bundleFile(bundleDir: string, component: string): { file: string; version: string } {
  const loaded = loadManifest(join(bundleDir, MANIFEST_FILE));
  const entry = loaded.manifest.artifacts.find((a) => a.component === component);
  if (!entry?.file) throw new Error(`the lab bundle ${bundleDir} has no ${component}`);
  return { file: join(bundleDir, entry.file), version: entry.version };
}

/** config.properties lines that make a cluster ask for exactly the versions the bundle holds. */
export function bundleVersionProperties(bundleDir: string): Record<string, string> {
  const { manifest } = loadManifest(join(bundleDir, MANIFEST_FILE));
  return Object.fromEntries(Object.entries(manifest.createdFor ?? {}).map(([project, version]) => [PROJECT_VERSION_KEYS[project as Project], version]));
}
