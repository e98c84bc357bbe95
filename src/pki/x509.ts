/**
 * The one door to the X.509 library. @peculiar/x509 builds certificates in TypeScript on Node's own
 * WebCrypto (no openssl or cfssl on the controller, no native addon): typed builders for every
 * extension we need (basic constraints, key usage, extended key usage, subjectAltName with IP and
 * DNS entries, key identifiers), ECDSA and RSA alike, maintained and typed. node-forge signs RSA
 * only; pkijs would have us assemble ASN.1 structures by hand. Reading certificates needs no
 * library: Node's X509Certificate does it natively (see certificate.ts).
 *
 * Loaded on first use: it and its ASN.1 schemas take about 0.3 s to load, which every command would
 * pay, while only a run that issues a certificate needs it (a no-op run reads certificates natively).
 *
 * The library resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API
 * installed before the library loads: hence the order below, and why nothing else in kubestrap
 * imports '@peculiar/x509' at run time.
 */
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { importCommonJs } from '../common-js.js';

export type { X509 };

let loaded: Promise<typeof X509> | undefined;

export function x509Library(): Promise<typeof X509> {
  loaded ??= (async () => {
    await import('reflect-metadata');
    const lib = await importCommonJs(import('@peculiar/x509'));
    lib.cryptoProvider.set(webcrypto);
    return lib;
  })();
  return loaded;
}
