import { z } from 'zod';

/**
 * An offline bundle is a directory holding binaries and `manifest.json`, which names each file's
 * component, version, arch and sha256. The same manifest shape describes the download cache, so an
 * operator can pre-seed hosts without internet access and the installer never needs to know where a
 * binary came from.
 */
export const MANIFEST_FILE = 'manifest.json';

export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

export const ArtifactEntrySchema = z
  .object({
    /** What the binary is installed as, e.g. `kube-apiserver`, `etcd`, `flanneld`. */
    component: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a lower-case binary name such as kube-apiserver'),
    version: z.string().regex(/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'a version such as v1.33.1'),
    arch: z.enum(ARCHES).default('amd64'),
    /** Path of the file inside the bundle directory. */
    file: z
      .string()
      .min(1)
      .refine((f) => !f.startsWith('/') && !f.split('/').includes('..'), 'a relative path inside the bundle'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
  })
  .strict();

export const ManifestSchema = z
  .object({
    artifacts: z.array(ArtifactEntrySchema),
  })
  .strict();

export type ArtifactEntry = z.infer<typeof ArtifactEntrySchema>;
export type Manifest = z.infer<typeof ManifestSchema>;
