import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * The key the API servers encrypt Secrets with before they reach etcd (encryption at rest), kept in
 * the local PKI store next to the CAs (`encryption.key`, 0600): like the service-account key it is
 * made once and never replaced silently, since a new key cannot read what the old one wrote.
 *
 * secretbox (XSalsa20-Poly1305) is what upstream recommends among the local-key providers: aescbc is
 * open to padding oracles and aesgcm needs a new key every 200k writes. `identity` comes last so that
 * Secrets written before encryption was on stay readable until they are written again.
 */
export const ENCRYPTION_KEY = 'encryption';

/** Key names go into every stored value (`k8s:enc:secretbox:v1:<name>:`) and into a label value: short, no colon. */
const KEY_NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

const EncryptionKeySchema = z.object({
  provider: z.literal('secretbox'),
  name: z.string().regex(KEY_NAME),
  secret: z.string().refine((s) => Buffer.from(s, 'base64').length === 32 && Buffer.from(s, 'base64').toString('base64') === s, 'a base64 32-byte key'),
});

export type EncryptionKey = z.infer<typeof EncryptionKeySchema>;

/** A new random key, named after the day it was made (the name says which key wrote a value). */
export function newEncryptionKey(now: Date): EncryptionKey {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  return { provider: 'secretbox', name: `key-${day}`, secret: randomBytes(32).toString('base64') };
}

export function encryptionKeyText(key: EncryptionKey): string {
  return `${JSON.stringify(key)}\n`;
}

/** The stored key, or undefined when the text is not one (the caller says where it came from). */
export function parseEncryptionKey(text: string): EncryptionKey | undefined {
  try {
    const parsed = EncryptionKeySchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The API server's `--encryption-provider-config`: Secrets written with the key, older plain ones still read. */
export function encryptionConfig(key: EncryptionKey): string {
  return [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: EncryptionConfiguration',
    'resources:',
    '  - resources:',
    '      - secrets',
    '    providers:',
    `      - ${key.provider}:`,
    '          keys:',
    `            - name: ${key.name}`,
    `              secret: ${key.secret}`,
    '      - identity: {}',
    '',
  ].join('\n');
}
