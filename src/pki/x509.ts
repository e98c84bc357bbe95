/**
 * The one door to the X.509 library. @peculiar/x509 builds certificates in TypeScript on Node's own
 * WebCrypto (no openssl or cfssl on the controller, no native addon): typed builders for every
 * extension we need (basic constraints, key usage, extended key usage, subjectAltName with IP and
 * DNS entries, key identifiers), ECDSA and RSA alike, maintained and typed. node-forge signs RSA
 * only; pkijs would have us assemble ASN.1 structures by hand. Reading certificates needs no
 * library: Node's X509Certificate does it natively (see certificate.ts).
 *
 * The library resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API
 * installed before the library loads: hence the import order below, and why nothing else in
 * kubestrap imports '@peculiar/x509' directly.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
