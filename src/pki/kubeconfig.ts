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
  const fields: KubeconfigFields = {
    cluster: k.cluster,
    caData: b64(k.caCertPem),
    server: k.server,
    ...(k.tlsServerName ? { tlsServerName: k.tlsServerName } : {}),
    user: k.user,
    certData: b64(k.clientCertPem),
    keyData: b64(k.clientKeyPem),
    context,
  };
  return Object.values(fields).every(isPlain) ? plainText(fields) : yamlText(fields);
}

interface KubeconfigFields {
  cluster: string;
  caData: string;
  server: string;
  tlsServerName?: string;
  user: string;
  certData: string;
  keyData: string;
  context: string;
}

/**
 * A string YAML's stringify writes as it is (no quotes) in a block mapping: starts with a letter, no
 * space, no character that means something (`#`, `,`, `'`...), no trailing colon, not a keyword.
 * Names, URLs and base64 are; anything else goes through YAML's stringify.
 */
function isPlain(value: string): boolean {
  return /^[A-Za-z_][\w.:@/+=[\]-]*$/.test(value) && !value.endsWith(':') && !/^(true|false|null)$/i.test(value);
}

/**
 * What yamlText writes, without building YAML's document: the kubeconfigs of 1000 hosts (each
 * kubelet's its own) took a second of the simulated no-op's CPU in stringify.
 */
function plainText(f: KubeconfigFields): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: ${f.cluster}`,
    '    cluster:',
    `      certificate-authority-data: ${f.caData}`,
    `      server: ${f.server}`,
    ...(f.tlsServerName ? [`      tls-server-name: ${f.tlsServerName}`] : []),
    'users:',
    `  - name: ${f.user}`,
    '    user:',
    `      client-certificate-data: ${f.certData}`,
    `      client-key-data: ${f.keyData}`,
    'contexts:',
    `  - name: ${f.context}`,
    '    context:',
    `      cluster: ${f.cluster}`,
    `      user: ${f.user}`,
    `current-context: ${f.context}`,
    '',
  ].join('\n');
}

function yamlText(f: KubeconfigFields): string {
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: f.cluster, cluster: { 'certificate-authority-data': f.caData, server: f.server, ...(f.tlsServerName ? { 'tls-server-name': f.tlsServerName } : {}) } }],
      users: [{ name: f.user, user: { 'client-certificate-data': f.certData, 'client-key-data': f.keyData } }],
      contexts: [{ name: f.context, context: { cluster: f.cluster, user: f.user } }],
      'current-context': f.context,
    },
    { lineWidth: 0 },
  );
}
