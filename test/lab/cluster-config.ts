import fs from 'node:fs';
import path from 'node:path';
import { loadManifest, MANIFEST_FILE } from '../../src/artifacts/manifest.js';
import { PROJECT_VERSION_KEYS } from '../../src/config/project-versions.js';
import type { Project } from '../../src/upstream/index.js';
import { REPO_ROOT } from './paths.js';

/** config.properties lines that make a cluster ask for exactly the versions the bundle holds. */
export function bundleVersionProperties(bundleDir: string): Record<string, string> {
  const { manifest } = loadManifest(path.join(bundleDir, MANIFEST_FILE));
  return Object.fromEntries(Object.entries(manifest.createdFor ?? {}).map(([project, version]) => [PROJECT_VERSION_KEYS[project as Project], version]));
}

/** Sets existing keys of a config.properties file; a key the file lacks is an error (a typo would go unnoticed). */
export function setProperties(file: string, values: Record<string, string>): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (const [key, value] of Object.entries(values)) {
    const at = lines.findIndex((l) => l.startsWith(`${key}=`));
    if (at < 0) throw new Error(`${key} is not in ${file}`);
    lines[at] = `${key}=${value}`;
  }
  fs.writeFileSync(file, lines.join('\n'));
}

/**
 * The committed config.example.properties for a lab cluster: the versions the lab bundle holds, and
 * 1.35+ kubelets allowed on the lab's cgroup v1 hosts (systemd-nspawn on this machine), and no pod
 * check in the verify step (VERIFY_PODS=false: a minute or more per init, and the previous
 * generation and EL flavours are not known to run pods yet); test/e2e/health-deep.test.ts turns it on.
 */
export function writeLabConfig(file: string, bundleDir: string | null | undefined): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'config.example.properties'), file);
  setProperties(file, { ...(bundleDir ? bundleVersionProperties(bundleDir) : {}), KUBELET_ALLOW_CGROUP_V1: 'true', VERIFY_PODS: 'false' });
}
