import { createHash } from 'node:crypto';
import { HOST_PATHS, PKI_PATHS } from '../components/paths.js';
import { defineFact, readFact } from '../engine/facts.js';
import { HostError, type KubestrapError } from '../errors.js';
import type { ClusterContext, ClusterHost } from './context.js';
import type { Resource } from '../engine/resource.js';
import { CAS, SERVICE_ACCOUNT_KEY, type CaName } from '../pki/catalog.js';
import { ENCRYPTION_KEY } from '../pki/encryption.js';
import { hostPkiContents } from '../pki/host-files.js';
import { CA_CERT_PATHS, PKI_DIRECTORIES } from '../pki/host-layout.js';
import type { PreparedPki } from '../pki/reconcile.js';
import { clockProblems } from '../preflight/clock.js';
import { shq } from '../ssh/quote.js';
import type { Phase, PhaseContext } from './phase.js';
import { fedService, type ComponentService } from './services.js';

/** Files whose replacement would break trust the cluster already has: the CAs and the service-account key. */
const TRUST_ANCHORS: ReadonlyArray<{ name: CaName | typeof SERVICE_ACCOUNT_KEY; path: string; part: 'certPem' | 'publicPem' }> = [
  ...CAS.map((ca) => ({ name: ca.name, path: CA_CERT_PATHS[ca.name], part: 'certPem' as const })),
  { name: SERVICE_ACCOUNT_KEY, path: PKI_PATHS.serviceAccountPub, part: 'publicPem' },
];

export const PKI_PHASE_TITLE = 'certificates and keys';

/**
 * The sha256 of each trust anchor the host has (and of the encryption config, whose presence
 * matters), by path. One process for all of them; a missing one only complains on stderr.
 */
export const ANCHORS_FACT = defineFact('pki-trust-anchors', `sha256sum -- ${[...TRUST_ANCHORS.map(({ path }) => path), PKI_PATHS.encryptionConfig].map(shq).join(' ')}`, (out) => {
  const lines = (out ?? '').split('\n').map((l) => /^([0-9a-f]{64}) [ *](.+)$/.exec(l.trim()));
  return new Map(lines.flatMap((m) => (m ? [[m[2]!, m[1]!] as const] : [])));
});

/**
 * The cluster's certificates, keys and kubeconfigs, on each host exactly what its roles need, as
 * secret files (their content is never shown: keys are secrets, and a certificate issued for a plan
 * is not the one apply issues). The PKI itself is prepared locally before the run (see
 * pki/reconcile.ts); this phase distributes it, and refuses to go ahead when that would replace a
 * CA (or the service-account key) that a host already trusts.
 */
export function pkiPhase(pki: PreparedPki, storeDir: string): Phase {
  return {
    name: 'pki',
    title: PKI_PHASE_TITLE,
    appliesTo: () => true,
    facts: [ANCHORS_FACT],
    resources: ({ spec, host }: PhaseContext): Resource[] => {
      const files = hostPkiContents(spec, host, pki);
      const readers = [...new Set(files.flatMap((f) => f.restarts))] as ComponentService[];
      return [
        ...PKI_DIRECTORIES.map((path): Resource => ({ kind: 'directory', path, mode: 0o755, owner: 'root', group: 'root' })),
        ...files.map((f): Resource => ({ kind: 'file', path: f.path, content: f.content, mode: f.mode, owner: 'root', group: 'root', restarts: f.restarts, secret: true })),
        // Run alone (`--phase pki`, `certs renew`), this phase restarts the services its files feed the way
        // their own phases would: etcd members and API servers one host at a time, each ready before the next.
        ...readers.map((service) => fedService(spec, host, service)),
      ];
    },
    // Certificates are time-bound: a host whose clock is off sees them as not yet valid or expired.
    preflight: (ctx) => [...replacedAnchors(ctx, pki, storeDir), ...replacedEncryptionKey(ctx, pki, storeDir), ...clockProblems(ctx)],
    // A run that issues a CA, SA key or encryption key (a lost state folder) reads every host, so
    // that none holding another one goes unseen; otherwise each host is checked alone.
    limitReads: (_limited, hosts) => (pki.issued.some((i) => i.name === ENCRYPTION_KEY || TRUST_ANCHORS.some((a) => a.name === i.name)) ? [...hosts] : []),
    beforeChanges: () => pki.persist(),
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hosts that already trust a CA of some cluster (they hold its certificate). */
export function hostsHoldingCa(ctx: ClusterContext): string[] {
  const caPaths = new Set<string>(Object.values(CA_CERT_PATHS));
  return ctx.hosts.filter((h) => [...anchorsOn(h).keys()].some((p) => caPaths.has(p))).map((h) => h.host.name);
}

/**
 * A master that encrypts Secrets with a key the local PKI no longer has (a lost or wrong state
 * folder): a new key would leave every encrypted Secret unreadable, so the run stops.
 */
function replacedEncryptionKey(ctx: ClusterContext, pki: PreparedPki, storeDir: string): KubestrapError[] {
  if (!pki.issued.some((i) => i.name === ENCRYPTION_KEY)) return [];
  return ctx.hosts
    .filter((h) => anchorsOn(h).has(PKI_PATHS.encryptionConfig))
    .map(
      (h) =>
        new HostError(
          h.host.name,
          `holds ${PKI_PATHS.encryptionConfig}, but the local PKI in ${storeDir} has no ${ENCRYPTION_KEY}.key (this run would make a new one): Secrets encrypted with the old key would become unreadable`,
          { resource: `file:${PKI_PATHS.encryptionConfig}` },
          `restore ${storeDir} from your backup (it must hold ${ENCRYPTION_KEY}.key); nothing was changed`,
        ),
    );
}

function anchorsOn(h: ClusterHost): ReadonlyMap<string, string> {
  return readFact(h.facts, ANCHORS_FACT);
}

/**
 * "A CA is never replaced silently": a host that trusts another CA (or SA key) than ours stops the
 * run. A host that does not answer is not changed either; it is checked when it answers again.
 */
function replacedAnchors(ctx: ClusterContext, pki: PreparedPki, storeDir: string): KubestrapError[] {
  const problems: KubestrapError[] = [];
  for (const h of ctx.hosts) {
    const held = anchorsOn(h);
    for (const anchor of TRUST_ANCHORS) {
      const onHost = held.get(anchor.path);
      const ours = pki.items.get(anchor.name)?.[anchor.part];
      if (!onHost || !ours || onHost === sha256(ours)) continue;
      const createdNow = pki.issued.some((i) => i.name === anchor.name);
      problems.push(
        new HostError(
          h.host.name,
          createdNow
            ? `holds ${anchor.path}, but the local PKI in ${storeDir} has no ${anchor.name} (this run would make a new one): going on would replace it`
            : `holds ${anchor.path} that is not the ${anchor.name} of the local PKI in ${storeDir}: going on would replace it`,
          { resource: `file:${anchor.path}` },
          createdNow
            ? `restore ${storeDir} from your backup (it must hold ${anchor.name}.${anchor.part === 'certPem' ? 'crt' : 'pub'} and ${anchor.name}.key); if ${h.host.name} belongs to no cluster of yours any more, remove its ${HOST_PATHS.pkiDir} first`
            : `check that ${h.host.name} belongs to this cluster and that ${storeDir} is this cluster's PKI (restore it from your backup if not); nothing was changed`,
        ),
      );
    }
  }
  return problems;
}
