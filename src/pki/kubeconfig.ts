import { stringify } from 'yaml';

export interface KubeconfigInput {
  cluster: string;
  server: string;
  /** The user's name in the file: the certificate's common name. */
  user: string;
  caCertPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** The context's name; default `<user>@<cluster>`. */
  context?: string;
  /** The name the server's certificate is checked against when `server` is not among its SANs (a tunnel's local address). */
  tlsServerName?: string;
}

/**
 * A kubeconfig with its certificates embedded (`*-data`), so it works on its own wherever it is
 * copied; it holds a private key and is therefore always a secret file.
 */
export function kubeconfig(k: KubeconfigInput): string {
  // Hosts share most kubeconfigs (kube-proxy's, flanneld's...), and YAML's stringify was the PKI
  // phase's largest cost per host in the simulated 1000-host run: each distinct one is written once.
  const key = JSON.stringify(k);
  let text = written.get(key);
  if (text === undefined) written.set(key, (text = write(k)));
  return text;
}

const written = new Map<string, string>();

function write(k: KubeconfigInput): string {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  const context = k.context ?? `${k.user}@${k.cluster}`;
  const server = { 'certificate-authority-data': b64(k.caCertPem), server: k.server, ...(k.tlsServerName ? { 'tls-server-name': k.tlsServerName } : {}) };
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: k.cluster, cluster: server }],
      users: [{ name: k.user, user: { 'client-certificate-data': b64(k.clientCertPem), 'client-key-data': b64(k.clientKeyPem) } }],
      contexts: [{ name: context, context: { cluster: k.cluster, user: k.user } }],
      'current-context': context,
    },
    { lineWidth: 0 },
  );
}
