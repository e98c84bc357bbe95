import { readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { z } from 'zod';
import { BundleError } from '../errors.js';
import { ARCHES } from '../upstream/index.js';

/**
 * The list of artifacts with their checksums, one format for three uses: an offline bundle's
 * `manifest.json` (files inside the bundle folder), a user's own builds (`--artifacts-manifest`:
 * files next to the manifest, or URLs), and the lab's test bundle. Each entry names what it is
 * (component, version, arch), where its bytes are, and the sha256 they must have.
 */
export const MANIFEST_FILE = 'manifest.json';

const relativeInside = (f: string) => !f.startsWith('/') && !f.split('/').includes('..');

export const ArtifactEntrySchema = z
  .object({
    /** What the binary is installed as (`kube-apiserver`, `etcd`, `flanneld`), or the image's name (`pause`, `coredns`). */
    component: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a lower-case name such as kube-apiserver'),
    version: z.string().regex(/^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/, 'a version such as v1.36.0 (images: 3.10.1)'),
    arch: z.enum(ARCHES).default('amd64'),
    /** `binary` (installed into BIN_PATH or the CNI folder) or `image` (an image archive the runtime imports). */
    kind: z.enum(['binary', 'image']).default('binary'),
    /** For images: the reference the runtime must know it by, e.g. registry.k8s.io/pause:3.10.1. */
    image: z.string().min(1).optional(),
    /** Path of the file relative to the manifest's folder. */
    file: z.string().min(1).refine(relativeInside, "a relative path inside the manifest's folder").optional(),
    /** Where to download it instead (user manifests only). */
    url: z.url({ protocol: /^https?$/ }).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
    size: z.number().int().nonnegative().optional(),
  })
  .strict()
  .refine((e) => (e.file === undefined) !== (e.url === undefined), { message: 'give exactly one of file and url' })
  .refine((e) => e.kind !== 'image' || e.image !== undefined, { message: 'an image entry needs its reference in "image"' });

export const ManifestSchema = z
  .object({
    /** The versions the bundle was made for, for people reading it (lookups use the entries). */
    createdFor: z.record(z.string(), z.string()).optional(),
    artifacts: z.array(ArtifactEntrySchema),
  })
  .strict();

export type ArtifactEntry = z.infer<typeof ArtifactEntrySchema>;
export type ArtifactEntryInput = z.input<typeof ArtifactEntrySchema>;
export type Manifest = z.infer<typeof ManifestSchema>;

export interface LoadedManifest {
  file: string;
  /** The folder `file` entries are relative to. */
  dir: string;
  manifest: Manifest;
}

/** Reads and validates a manifest; every problem is reported at once, with the entry it is in. */
export function loadManifest(file: string): LoadedManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `is not valid JSON (${(err as Error).message})`;
    throw new BundleError(file, `${file} ${why}`, 'give the manifest.json of a bundle made by `bootstrap bundle create`, or a file in the same format');
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new BundleError(
      file,
      `${file} is not a valid artifact manifest:\n  ${problems.join('\n  ')}`,
      'each entry needs component, version, arch, sha256 and one of file/url (see src/artifacts/manifest.ts)',
    );
  }
  return { file, dir: dirname(resolve(file)), manifest: parsed.data };
}

/**
 * The local path of an entry's file. Its name stays inside the manifest's folder (see the schema),
 * and so must the file it leads to: a link in a bundle to, say, this machine's CA key is refused
 * (a missing file is left for the caller to report).
 */
export function entryPath(loaded: LoadedManifest, entry: ArtifactEntry): string | undefined {
  if (entry.file === undefined) return undefined;
  const path = resolve(loaded.dir, entry.file);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path;
  }
  const dir = realpathSync(loaded.dir);
  if (!real.startsWith(dir + sep)) {
    throw new BundleError(path, `${entry.file} (${entryKey(entry)}) leads out of ${loaded.dir}, to ${real}`, `copy the file into ${loaded.dir} instead of linking to it`);
  }
  return path;
}

export function entryKey(e: { component: string; version: string; arch: string; kind?: string }): string {
  return `${e.kind === 'image' ? 'image ' : ''}${e.component} ${e.version.replace(/^v?/, 'v')} linux/${e.arch}`;
}
