import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadClusterSpec, type ClusterSpec } from '../../config/cluster-spec.js';
import { writeFresh } from '../../fresh-file.js';
import { readCertificate } from '../../pki/certificate.js';
import { kubeconfig } from '../../pki/kubeconfig.js';
import { defaultKubeconfigPath, mergeIntoFile } from '../../pki/kubeconfig-merge.js';
import { localPkiStore, type PkiStore } from '../../pki/store.js';
import { identityProblems, issuePersonalCertificate, type PersonalCertificate } from '../../pki/user-certs.js';
import { printable } from '../../printable.js';
import { openStateDir } from '../../state/state-dir.js';
import { EXIT_OK, printWarnings, type CliIo } from '../io.js';
import { clusterSources, outputOption, positiveInt, withInputOptions, type InputOptions, type OutputMode } from '../options.js';
import { kubeconfigReportSchema, type KubeconfigReport } from '../output/access-json.js';
import { jsonReport } from '../output/json.js';
import { UsageError } from '../usage-error.js';

interface KubeconfigOptions extends InputOptions {
  user: string;
  group: string[];
  days: number;
  out?: string;
  merge: boolean;
  tunnelPort?: number;
  output: OutputMode;
}

const DEFAULT_DAYS = 365;

/** `bootstrap kubeconfig`: a kubeconfig with a personal client certificate, for the operator's own machine. */
export function kubeconfigCommand(io: CliIo, setExitCode: (code: number) => void): Command {
  return withInputOptions(new Command('kubeconfig'))
    .description(
      'Issues a client certificate for --user (its groups from --group) from the local cluster CA, with a new key, and writes a kubeconfig ' +
        "holding it (0600) that points at the cluster's API server address (MASTER_IP or the load balancer), or at `bootstrap tunnel`'s local port with --tunnel-port. " +
        'What the user may do is up to RBAC: bind a role to the user or a group. The certificate is recorded in the state folder (`certs check` lists it); ' +
        'the key is only in the kubeconfig. A certificate cannot be revoked: it stays valid until it expires, so keep --days short and remove bindings to cut access. ' +
        'system: users and groups (system:masters among them) are refused: give an administrator a ClusterRoleBinding of cluster-admin, which can be taken away.',
    )
    .requiredOption('--user <name>', "the user's name (the certificate's CN): letters, digits, . _ @ -")
    .option('--group <groups...>', "the user's groups (the certificate's O entries), for RBAC bindings to groups", [])
    .addOption(new Option('--days <n>', 'how long the certificate lasts (never past the CA)').default(DEFAULT_DAYS).argParser(positiveInt))
    .option('--out <file>', 'where to write the kubeconfig (default ./<cluster>-<user>.kubeconfig unless --merge)')
    .option('--merge', "merge into $KUBECONFIG's first file or ~/.kube/config and make it the current context", false)
    .addOption(new Option('--tunnel-port <port>', 'point at `bootstrap tunnel --port <port>` on this machine (https://127.0.0.1:<port>)').argParser(positiveInt))
    .addOption(outputOption('report format'))
    .action(async (opts: KubeconfigOptions) => setExitCode(await makeKubeconfig(io, opts)));
}

async function makeKubeconfig(io: CliIo, opts: KubeconfigOptions): Promise<number> {
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  const id = { user: opts.user, groups: opts.group };
  const problems = identityProblems(spec, id);
  if (problems.length) throw new UsageError(problems.join('; '), 'choose another name or group; bind roles to the user or its groups with RBAC');
  openStateDir(spec.stateDir, spec.knownHostsFile);
  const store = localPkiStore(spec);
  const issued = await issuePersonalCertificate(store, id, opts.days, new Date());
  const server = serverFor(spec, store, opts.tunnelPort);
  const entry = `${id.user}@${spec.name}`;
  const text = kubeconfig({
    cluster: spec.name,
    server: server.url,
    user: entry,
    context: entry,
    caCertPem: issued.caCertPem,
    clientCertPem: issued.certPem,
    clientKeyPem: issued.keyPem,
    ...(server.tlsServerName ? { tlsServerName: server.tlsServerName } : {}),
  });
  const out = opts.out ? resolve(opts.out) : opts.merge ? undefined : resolve(`${spec.name}-${id.user}.kubeconfig`);
  if (out) writeFresh(out, text, 0o600);
  const merged = opts.merge ? defaultKubeconfigPath() : undefined;
  if (merged) mergeIntoFile(merged, text);
  io.stdout.write(opts.output === 'json' ? reportJson(issued, server.url, entry, out, merged) : reportText(issued, server.url, entry, out, merged));
  return EXIT_OK;
}

/**
 * The API server address the kubeconfig names. Through the tunnel the address is 127.0.0.1, which
 * kubestrap's serving certificate lists; one issued without it (an older PKI) is checked against
 * a name it does list, with `tls-server-name`.
 */
function serverFor(spec: ClusterSpec, store: PkiStore, tunnelPort: number | undefined): { url: string; tlsServerName?: string } {
  if (tunnelPort === undefined) return { url: spec.values.KUBE_APISERVER_URL! };
  const url = `https://127.0.0.1:${tunnelPort}`;
  const pem = store.read('apiserver').certPem;
  const info = pem ? readCertificate(pem) : undefined;
  if (!info || info.ipAddresses.includes('127.0.0.1')) return { url };
  const name = info.dnsNames[0] ?? info.ipAddresses[0];
  return name ? { url, tlsServerName: name } : { url };
}

function reportText(c: PersonalCertificate, server: string, context: string, out: string | undefined, merged: string | undefined): string {
  const groups = c.groups.length ? c.groups.join(', ') : '(none)';
  const lines = [
    `issued a certificate for user ${c.user}, groups ${groups}, valid until ${c.info.notAfter.toISOString()} (serial ${c.info.serialNumber})`,
    ...(out ? [`wrote ${out} (0600; it holds the private key): kubectl --kubeconfig ${out} get nodes`] : []),
    ...(merged ? [`merged into ${merged} as context ${context}, now the current context`] : []),
    `server: ${server}`,
    ...(c.replaced ? [`replaces ${c.user}'s certificate in the record (serial ${c.replaced.serialNumber}), which stays valid until ${c.replaced.notAfter.toISOString()}`] : []),
    `what ${c.user} may do is up to RBAC, e.g.: kubectl create clusterrolebinding ${c.user}-view --clusterrole=view --user=${c.user}`,
  ];
  return `${lines.map((l) => printable(l)).join('\n')}\n`;
}

function reportJson(c: PersonalCertificate, server: string, context: string, out: string | undefined, merged: string | undefined): string {
  const replaced = c.replaced ? { serialNumber: c.replaced.serialNumber, notAfter: c.replaced.notAfter.toISOString() } : null;
  const report: KubeconfigReport = {
    user: c.user,
    groups: c.groups,
    serialNumber: c.info.serialNumber,
    notAfter: c.info.notAfter.toISOString(),
    server,
    context,
    file: out ?? null,
    mergedInto: merged ?? null,
    replaced,
  };
  return jsonReport(kubeconfigReportSchema, report);
}
