import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { encryptionConfig, parseEncryptionKey } from './encryption.js';
import { hostPkiFiles, type HostPkiFile, type PkiContent } from './host-layout.js';
import { kubeconfig } from './kubeconfig.js';
import type { PreparedPki } from './reconcile.js';

export interface PkiFile extends Omit<HostPkiFile, 'content'> {
  content: string;
}

/** The PKI files of one host (or the given ones of them) with their content, from the PKI this run works with. */
export function hostPkiContents(spec: ClusterSpec, host: HostSpec, pki: PreparedPki, files: readonly HostPkiFile[] = hostPkiFiles(spec, host)): PkiFile[] {
  return files.map((f) => ({ ...f, content: contentOf(spec, pki, f.content) }));
}

function contentOf(spec: ClusterSpec, pki: PreparedPki, what: PkiContent): string {
  const item = pki.items.get(what.name);
  const missing = (part: string) => new Error(`the PKI has no ${part} for ${what.name}`);
  switch (what.kind) {
    case 'cert':
      return item?.certPem ?? failWith(missing('certificate'));
    case 'key':
      return item?.keyPem ?? failWith(missing('key'));
    case 'public-key':
      return item?.publicPem ?? failWith(missing('public key'));
    case 'kubeconfig': {
      const leaf = pki.catalog.leaves.find((l) => l.name === what.name) ?? failWith(missing('catalog entry'));
      return kubeconfig({
        cluster: spec.name,
        server: what.server,
        user: leaf.profile.commonName,
        caCertPem: pki.items.get(leaf.ca)?.certPem ?? failWith(missing('CA')),
        clientCertPem: item?.certPem ?? failWith(missing('certificate')),
        clientKeyPem: item?.keyPem ?? failWith(missing('key')),
      });
    }
    case 'encryption-config':
      return encryptionConfig(parseEncryptionKey(item?.keyPem ?? '') ?? failWith(missing('encryption key')));
  }
}

function failWith(err: Error): never {
  throw err;
}
