import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterSpec } from '../config/cluster-spec.js';
import { StateError } from '../errors.js';
import { CAS, KEY_ALGORITHMS, pkiCatalog } from './catalog.js';
import { daysLeft, issueLeafCertificate, readCertificate, validityFrom, type CertificateInfo } from './certificate.js';
import { described, expiryProblems, type CertCheck } from './check.js';
import { generatePrivateKey, privateKeyPem } from './keys.js';
import { loadCa } from './reconcile.js';
import type { PkiStore } from './store.js';

/**
 * Personal client certificates (`bootstrap kubeconfig`): one person's identity, issued from the
 * cluster's CA, so that access is given and taken away with RBAC bindings to that user or its groups,
 * never by handing out the shared admin credential. The store keeps each user's latest certificate
 * (`pki/users/<user>.crt`, public) so that `certs check` lists who holds one and until when; the key
 * exists only in the kubeconfig the command writes. Kubernetes cannot revoke a client certificate:
 * one stays valid until it expires, whatever the store says, which is why its days are bounded.
 */
export const USERS_FOLDER = 'users';

export interface PersonalIdentity {
  user: string;
  groups: string[];
}

export interface PersonalCertificate extends PersonalIdentity {
  certPem: string;
  keyPem: string;
  caCertPem: string;
  info: CertificateInfo;
  /** The user's earlier certificate that the store listed until now; it stays valid until it expires. */
  replaced?: CertificateInfo;
}

/** Letters, digits and `. _ @ -`: an e-mail address fits, and the name is safe as a file and kubeconfig entry name. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
/** Groups may also hold `:` and `/` (`team:ops`, `org/dev`); `system:` is refused separately. */
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}$/;

/**
 * Why a name or group may not go into a personal certificate, or undefined when it may. `system:`
 * names belong to Kubernetes' own identities (nodes, controllers, service accounts); the group
 * `system:masters` in particular skips every authorizer and, on a certificate, cannot be taken away
 * until it expires: an administrator gets a ClusterRoleBinding of `cluster-admin`, which can. The
 * common names of the cluster's own client certificates are refused too, since their bindings
 * (the API server's kubelet client, flannel, the admin) would come with them.
 */
export function identityProblems(spec: ClusterSpec, id: PersonalIdentity): string[] {
  const problems: string[] = [];
  const reservedUsers = new Set(
    pkiCatalog(spec)
      .leaves.filter((l) => l.ca === 'ca')
      .map((l) => l.profile.commonName),
  );
  if (!USER_NAME.test(id.user)) problems.push(`user "${id.user}": use 1-128 letters, digits and . _ @ -, starting with a letter or digit`);
  else if (reservedUsers.has(id.user)) problems.push(`user "${id.user}" is the name of one of the cluster's own certificates`);
  if (/^system:/i.test(id.user)) problems.push(`user "${id.user}": system: names are Kubernetes' own identities`);
  for (const group of id.groups) {
    if (/^system:/i.test(group)) problems.push(`group "${group}": system: groups are Kubernetes' own (system:masters bypasses RBAC and cannot be revoked on a certificate)`);
    else if (!GROUP_NAME.test(group)) problems.push(`group "${group}": use 1-128 letters, digits and . _ @ : / -, starting with a letter or digit`);
  }
  if (new Set(id.groups).size !== id.groups.length) problems.push('a group is given twice');
  return problems;
}

/** The store's name of a user's record, e.g. `users/alice`. */
export function userItemName(user: string): string {
  return `${USERS_FOLDER}/${user}`;
}

/**
 * Issues a personal client certificate with a new key, valid `days` days but never past the CA, and
 * records its certificate in the store. The identity must have passed `identityProblems`.
 */
export async function issuePersonalCertificate(store: PkiStore, id: PersonalIdentity, days: number, now: Date): Promise<PersonalCertificate> {
  store.checkPrivate();
  const caSpec = CAS.find((c) => c.name === 'ca')!;
  const ca = loadCa(store, caSpec);
  if (!ca) {
    throw new StateError(store.pathOf('ca', 'certPem'), 'there is no cluster CA to issue a personal certificate with', 'run `bootstrap init` (or `apply`) first: it creates the PKI');
  }
  if (daysLeft(ca.info, now) < 0) throw new StateError(store.pathOf('ca', 'certPem'), 'the cluster CA has expired', 'a new cluster PKI is needed; kubestrap does not rotate CAs');
  const key = await generatePrivateKey(KEY_ALGORITHMS.certificates);
  const profile = { commonName: id.user, organizations: id.groups, dnsNames: [], ipAddresses: [], usages: ['clientAuth' as const] };
  const certPem = await issueLeafCertificate(profile, key, ca, validityFrom(now, days, ca.info.notAfter));
  const earlier = store.read(userItemName(id.user)).certPem;
  const replaced = earlier ? readCertificate(earlier) : undefined;
  // Only the certificate: the key is the user's, in their kubeconfig.
  await store.writeAll([[userItemName(id.user), { certPem }]]);
  return { ...id, certPem, keyPem: privateKeyPem(key), caCertPem: ca.certPem, info: readCertificate(certPem)!, ...(replaced ? { replaced } : {}) };
}

/** The recorded personal certificates as `certs check` rows (`users/alice`), judged on expiry like every other. */
export function checkPersonalCertificates(store: PkiStore, now: Date, days: number): CertCheck[] {
  return recordedUsers(store).map((user): CertCheck => {
    const name = userItemName(user);
    const path = store.pathOf(name, 'certPem');
    const pem = store.read(name).certPem;
    const info = pem ? readCertificate(pem) : undefined;
    const base = { where: 'local', name, path, ...described(info, now) };
    return { ...base, problems: info ? expiryProblems(base.daysLeft, days) : ['unreadable'] };
  });
}

function recordedUsers(store: PkiStore): string[] {
  try {
    return readdirSync(join(store.dir, USERS_FOLDER))
      .filter((f) => f.endsWith('.crt') && USER_NAME.test(f.slice(0, -4)))
      .map((f) => f.slice(0, -4))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
