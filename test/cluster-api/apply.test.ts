import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { manifestObjects, objectPath } from '../../src/cluster-api/apply.js';
import { ManifestError } from '../../src/errors.js';

describe('server-side apply: objects and their paths', () => {
  it("places each object of the CoreDNS manifest at its API path, namespaced or not, in the manifest's order", () => {
    const objects = manifestObjects(
      'coredns.yaml',
      readFileSync('units/master/etc/kubernetes/addons/coredns.yaml', 'utf8')
        .replace(/\{#-[^#]*-#\}\n/g, '')
        .replace(/\{\{[^}]*\}\}/g, 'x'),
    );
    expect(objects.map(objectPath)).toEqual([
      '/api/v1/namespaces/kube-system/serviceaccounts/coredns',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Acoredns',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system%3Acoredns',
      '/api/v1/namespaces/kube-system/configmaps/coredns',
      '/apis/apps/v1/namespaces/kube-system/deployments/coredns',
      '/api/v1/namespaces/kube-system/services/kube-dns',
    ]);
  });

  it("reads a JSON List's items one by one, and a namespaced object without a namespace as default's", () => {
    const objects = manifestObjects('list', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }] }));
    expect(objects.map(objectPath)).toEqual(['/api/v1/namespaces/default/configmaps/a']);
  });

  it('refuses, naming it, a kind it cannot place, an object without a name, and text that is not YAML', () => {
    const [crd] = manifestObjects('x', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n');
    expect(() => objectPath(crd!)).toThrow(ManifestError);
    expect(() => objectPath(crd!)).toThrow('kubestrap does not apply objects of kind Widget');
    expect(() => manifestObjects('x.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n')).toThrow(/an object lacks apiVersion, kind or metadata.name \(metadata.name\)/);
    expect(() => manifestObjects('x.yaml', 'a: [\n')).toThrow(/not YAML/);
  });
});
