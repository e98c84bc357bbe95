import { Command, Option } from 'commander';
import { loadClusterSpec, type ClusterSpec, type HostSpec } from '../../config/cluster-spec.js';
import { asKubestrapError, type ClusterSession } from '../../engine/session.js';
import { pkiCatalog } from '../../pki/catalog.js';
import { checkHost, checkLocal } from '../../pki/check.js';
import { deployedScript, parseDeployed } from '../../pki/deployed.js';
import { hostPkiFiles } from '../../pki/host-layout.js';
import { reconcilePki, storedPki, type PreparedPki } from '../../pki/reconcile.js';
import { localPkiStore } from '../../pki/store.js';
import { checkPersonalCertificates } from '../../pki/user-certs.js';
import { displayFilter } from '../../printable.js';
import { targetSecrets } from '../../ssh/auth.js';
import { acquireLock } from '../../state/lock.js';
import { openStateDir } from '../../state/state-dir.js';
import { EXIT_FAILED, EXIT_OK, printWarnings, type CliIo } from '../io.js';
import { clusterSources, openSession, outputOption, positiveInt, withConnectionOptions, withInputOptions, type ConnectionOptions, type InputOptions, type OutputMode } from '../options.js';
import { certsJson, certsRenewReportSchema, certsText, type HostCerts } from '../output/certs-text.js';
import { jsonReport } from '../output/json.js';
import { UsageError } from '../usage-error.js';

interface CheckOptions extends ConnectionOptions {
  days: number;
  output: OutputMode;
}

interface RenewOptions extends InputOptions {
  all: boolean;
  name?: string[];
  output: OutputMode;
}

const DEFAULT_DAYS = 30;

/** `bootstrap certs check|renew`: the cluster's certificates, on the controller and on the hosts. */
export function certsCommand(io: CliIo, setExitCode: (code: number) => void): Command {
  const check = withConnectionOptions(withInputOptions(new Command('check')))
    .summary('every certificate, local and on each host: subject, SANs, issuer, days left, same as local')
    .description(
      "Reads the local PKI and, with one command per host, what each host holds. Exits 1 when a certificate expires within --days, or a host's copy is missing or differs from the local one.",
    )
    .addOption(new Option('--days <n>', 'fail when a certificate expires within this many days').default(DEFAULT_DAYS).argParser(positiveInt))
    .addOption(outputOption('report format'))
    .action(async (opts: CheckOptions) => setExitCode(await checkCerts(io, opts)));
  const renew = withInputOptions(new Command('renew'))
    .summary('re-issue certificates locally (never CAs); the next apply rolls them out')
    .description(
      'Re-issues the chosen certificates (new keys) in the local PKI. Nothing on the hosts changes until the next `bootstrap apply`, which gives each host that holds one the new files and restarts only the services that read them.',
    )
    .option('--all', 'every certificate (not the CAs)', false)
    .option('--name <names...>', 'these certificates: a name as `certs check` shows it (apiserver, kubelet/node1) or a group (kubelet, etcd-server)')
    .addOption(outputOption('report format'))
    .action(async (opts: RenewOptions) => setExitCode(await renewCerts(io, opts)));
  return new Command('certs').addCommand(check).addCommand(renew);
}

async function checkCerts(io: CliIo, opts: CheckOptions): Promise<number> {
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  const store = localPkiStore(spec);
  const pki = storedPki(spec, store);
  const now = new Date();
  // The personal certificates `bootstrap kubeconfig` issued are listed with the rest (users/<name>).
  const local = [...checkLocal(pki, store, now, opts.days), ...checkPersonalCertificates(store, now, opts.days)];
  // Certificates and errors from hosts are shown with their control characters escaped and every password redacted.
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const { session, close } = openSession(spec, opts);
  let hosts: HostCerts[];
  try {
    hosts = await readHostCerts(spec, session, pki, now, opts.days);
  } finally {
    await close();
  }
  const ok = [...local, ...hosts.flatMap((h) => h.rows)].every((r) => r.problems.length === 0) && hosts.every((h) => !h.error);
  const report = { storeDir: store.dir, local, hosts, days: opts.days, ok };
  io.stdout.write(opts.output === 'json' ? certsJson(report, shown) : certsText(report, shown));
  return ok ? EXIT_OK : EXIT_FAILED;
}

/**
 * `certs check` as a procedure on the cluster session: one command per host that reads its PKI
 * files (hashes, and the certificates in them; never a key), hosts in parallel.
 */
async function readHostCerts(spec: ClusterSpec, session: ClusterSession<HostSpec>, pki: PreparedPki, now: Date, days: number): Promise<HostCerts[]> {
  const { open, lost } = await session.connect();
  const read = await session.each(open, async (h): Promise<HostCerts> => {
    const files = hostPkiFiles(spec, h.host);
    try {
      const deployed = parseDeployed((await h.remote.run(deployedScript(files))).stdout, files);
      return { host: h.host.name, address: h.host.address, rows: checkHost(spec, h.host, pki, deployed, now, days) };
    } catch (err) {
      return { host: h.host.name, address: h.host.address, rows: [], error: asKubestrapError(h.host.name, err) };
    }
  });
  const unreachable = lost.map((l): HostCerts => ({ host: l.host.name, address: l.host.address, rows: [], error: l.error }));
  // In inventory order, as before: the unreachable among the others.
  return spec.hosts.flatMap((host) => [...read, ...unreachable].filter((c) => c.host === host.name));
}

async function renewCerts(io: CliIo, opts: RenewOptions): Promise<number> {
  if (opts.all === Boolean(opts.name?.length)) throw new UsageError('say which certificates to renew', 'give --all, or --name with one or more names (as `bootstrap certs check` shows them)');
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  const names = chooseLeaves(spec, opts);
  const state = openStateDir(spec.stateDir);
  const lock = acquireLock(state.lockFile, 'bootstrap certs renew');
  try {
    const store = localPkiStore(spec);
    const renewed = await reconcilePki(spec, store, { now: new Date(), mode: { kind: 'renew', names } });
    await renewed.persist();
    const renewedNames = renewed.issued.map((i) => i.name);
    if (opts.output === 'json') {
      io.stdout.write(jsonReport(certsRenewReportSchema, { ok: true, storeDir: store.dir, renewed: renewedNames }));
      return EXIT_OK;
    }
    io.stdout.write(
      `renewed ${renewed.issued.length} certificate${renewed.issued.length === 1 ? '' : 's'} in ${store.dir}: ${renewedNames.join(', ')}\n` +
        'run `bootstrap apply` to roll them out: every host that holds one gets it, and only the services that read it restart\n',
    );
  } finally {
    lock.release();
  }
  return EXIT_OK;
}

/** Leaf names from --all or --name (a name, or a group: the part before the `/` of per-host names). */
function chooseLeaves(spec: ClusterSpec, opts: RenewOptions): Set<string> {
  const catalog = pkiCatalog(spec);
  const leaves = catalog.leaves.map((l) => l.name);
  if (opts.all) return new Set(leaves);
  const chosen = new Set<string>();
  for (const name of opts.name ?? []) {
    const matches = leaves.filter((l) => l === name || l.startsWith(`${name}/`));
    if (matches.length) {
      matches.forEach((m) => chosen.add(m));
      continue;
    }
    if (catalog.cas.some((c) => c.name === name)) {
      throw new UsageError(`${name} is a CA: kubestrap renews certificates, never CAs`, 'a CA lasts CA_VALIDITY_DAYS; rotating one means a new PKI for the cluster');
    }
    const groups = [...new Set(leaves.filter((l) => l.includes('/')).map((l) => l.split('/')[0]!))];
    throw new UsageError(`there is no certificate named ${name}`, `choose from: ${[...leaves.filter((l) => !l.includes('/')), ...groups.map((g) => `${g}[/<host>]`)].join(', ')}`);
  }
  return chosen;
}
