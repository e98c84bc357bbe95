import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ManifestError } from '../errors.js';
import type { KubeApi } from './kube-api.js';

/** An object of a manifest: what server-side apply needs to know where it goes. */
export const ManifestObjectSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
});
export type ManifestObject = z.infer<typeof ManifestObjectSchema>;

/**
 * The kinds kubestrap's own manifests hold, with their resource (plural) name and whether they live
 * in a namespace: what API discovery would answer, known beforehand, so applying costs no
 * discovery requests. A kind not listed is refused by name (objectPath).
 */
const KINDS: Record<string, { resource: string; namespaced: boolean }> = {
  Namespace: { resource: 'namespaces', namespaced: false },
  ClusterRole: { resource: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { resource: 'clusterrolebindings', namespaced: false },
  ServiceAccount: { resource: 'serviceaccounts', namespaced: true },
  ConfigMap: { resource: 'configmaps', namespaced: true },
  Secret: { resource: 'secrets', namespaced: true },
  Service: { resource: 'services', namespaced: true },
  Pod: { resource: 'pods', namespaced: true },
  Role: { resource: 'roles', namespaced: true },
  RoleBinding: { resource: 'rolebindings', namespaced: true },
  Deployment: { resource: 'deployments', namespaced: true },
  DaemonSet: { resource: 'daemonsets', namespaced: true },
};

/** A namespaced object without a namespace goes where kubectl would put it: `default`. */
const DEFAULT_NAMESPACE = 'default';

/** The API path of an object (`/apis/apps/v1/namespaces/kube-system/deployments/coredns`). */
export function objectPath(object: ManifestObject): string {
  const kind = KINDS[object.kind];
  if (!kind) throw new ManifestError(`${object.kind}/${object.metadata.name}`, `kubestrap does not apply objects of kind ${object.kind}`, `its manifests hold only ${Object.keys(KINDS).join(', ')}`);
  const group = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
  const namespace = kind.namespaced ? `/namespaces/${encodeURIComponent(object.metadata.namespace ?? DEFAULT_NAMESPACE)}` : '';
  return `${group}${namespace}/${kind.resource}/${encodeURIComponent(object.metadata.name)}`;
}

/** The objects of a manifest (`source`: YAML, several documents, or JSON; a `List`'s items one by one), in order. */
export function manifestObjects(source: string, text: string): ManifestObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length) throw new ManifestError(source, `not YAML: ${doc.errors[0]!.message}`, 'bootstrap render shows the manifest as rendered');
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return [];
    const list = z.object({ kind: z.literal('List'), items: z.array(z.unknown()) }).safeParse(value);
    return (list.success ? list.data.items : [value]).map((item) => {
      const parsed = ManifestObjectSchema.safeParse(item);
      if (!parsed.success)
        throw new ManifestError(source, `an object lacks apiVersion, kind or metadata.name (${parsed.error.issues[0]?.path.join('.') ?? ''})`, 'bootstrap render shows the manifest as rendered');
      return parsed.data;
    });
  });
}

/**
 * Server-side apply of each object, in order (a namespace before what it holds): one PATCH each,
 * which creates what is missing and sets what kubestrap owns, leaving fields others manage alone.
 */
export async function serverSideApply(api: KubeApi, objects: readonly ManifestObject[]): Promise<void> {
  for (const object of objects) await api.patch(objectPath(object), 'apply', object);
}
