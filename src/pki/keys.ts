import { createPrivateKey, createPublicKey, generateKeyPair, webcrypto, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Key pairs come from node:crypto. ECDSA P-256 by default: small, fast to make and to verify, and
 * read by every consumer here (Go's crypto/tls in etcd, flanneld and Kubernetes; OpenSSL). RSA only
 * where a consumer needs it: the service-account signing key, because RS256 is the one algorithm
 * every OpenID Connect relying party must accept, and service-account tokens are verified by such
 * parties outside the cluster (workload identity federation) as well as by the API server.
 */
export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048';

const generate = promisify(generateKeyPair);

export async function generatePrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  const pair = algorithm === 'rsa-2048' ? await generate('rsa', { modulusLength: 2048 }) : await generate('ec', { namedCurve: 'P-256' });
  return pair.privateKey;
}

/** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), which Go, OpenSSL and Python all read. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as kube-apiserver's --service-account-key-file reads it. */
export function publicKeyPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

/** SubjectPublicKeyInfo DER: what a certificate embeds, and how two keys are compared. */
export function publicKeyDer(key: KeyObject | string): Buffer {
  const pub = typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
  return pub.export({ type: 'spki', format: 'der' });
}

/** Reads a PEM private key; undefined when the text is not one. */
export function parsePrivateKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

/** The WebCrypto algorithm a key signs certificates with: SHA-256 either way. */
export function signatureAlgorithm(key: KeyObject): webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams {
  return key.asymmetricKeyType === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' };
}

/** The same private key as a WebCrypto key, which the X.509 library signs with. */
export function signingKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const algorithm = key.asymmetricKeyType === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
  return webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
}
