import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kubeconfig, type KubeconfigInput } from '../../src/pki/kubeconfig.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The file as YAML's stringify writes the kubeconfig object: what hosts hold from earlier runs, byte for byte. */
function asYamlWritesIt(k: KubeconfigInput): string {
  const context = k.context ?? `${k.user}@${k.cluster}`;
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: k.cluster, cluster: { 'certificate-authority-data': b64(k.caCertPem), server: k.server, ...(k.tlsServerName ? { 'tls-server-name': k.tlsServerName } : {}) } }],
      users: [{ name: k.user, user: { 'client-certificate-data': b64(k.clientCertPem), 'client-key-data': b64(k.clientKeyPem) } }],
      contexts: [{ name: context, context: { cluster: k.cluster, user: k.user } }],
      'current-context': context,
    },
    { lineWidth: 0 },
  );
}

describe('kubeconfig', () => {
  const base: KubeconfigInput = { cluster: 'lab', server: 'https://10.0.0.11:6443', user: 'system:node:w1', caCertPem: PEM, clientCertPem: PEM, clientKeyPem: 'KEY\n' };

  it.each<[string, Partial<KubeconfigInput>]>([
    ['a node', {}],
    ['a tunnel with its server name', { server: 'https://127.0.0.1:16443', tlsServerName: 'kubernetes' }],
    ['an IPv6 server', { server: 'https://[fd00::11]:6443' }],
    ['a context of its own', { user: 'alice@lab', context: 'alice@lab' }],
    ['a name YAML quotes (leading @)', { user: '@ops' }],
    ['a name YAML reads as a keyword', { cluster: 'true' }],
    ['a name YAML reads as a number', { cluster: '1.36' }],
    ['a name with a space and a hash', { cluster: 'my #cluster' }],
    ['a name ending in a colon', { user: 'system:' }],
    ['a name with a quote', { user: "o'brien" }],
  ])('writes %s exactly as YAML stringify does', (_name, change) => {
    const k = { ...base, ...change };
    expect(kubeconfig(k)).toBe(asYamlWritesIt(k));
  });
});
