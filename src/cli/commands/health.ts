import { Command } from 'commander';
import { loadClusterSpec } from '../../config/cluster-spec.js';
import { runHealth, type HealthReport } from '../../health/run.js';
import { clientIdentity } from '../../pki/client-identities.js';
import { displayFilter } from '../../printable.js';
import { targetSecrets } from '../../ssh/auth.js';
import { openStateDir } from '../../state/state-dir.js';
import { EXIT_FAILED, EXIT_OK, formatTable, printWarnings, type CliIo } from '../io.js';
import { healthJson } from '../output/health-json.js';
import { clusterSources, openSession, outputOption, withConnectionOptions, withInputOptions, type ConnectionOptions, type OutputMode } from '../options.js';

interface HealthOptions extends ConnectionOptions {
  output: OutputMode;
  deep?: boolean;
}

/** `bootstrap health`: is the cluster still working? One row per check and host; exit 1 on any failure. */
export function healthCommand(io: CliIo, setExitCode: (code: number) => void): Command {
  return withConnectionOptions(withInputOptions(new Command('health')))
    .description(
      'Over the SSH connections (one command per host, hosts in parallel): etcd member list, the API ' +
        "server's /readyz, controller-manager and scheduler health, the services running; and, as kubestrap's own requests " +
        "through forwarded channels of those connections (no process on the host), each member's etcd health, etcd's access " +
        'control, every node Ready and a flannel lease per node. Changes nothing. Exits 1 when any check fails. --deep also runs pods: one per node (image ' +
        'HEALTH_CHECK_IMAGE), and from each: DNS, a pod on another node by its IP, a Service; in the namespace ' +
        'kubestrap-health, which it creates and deletes (about 10-60 s; at most about 6 minutes).',
    )
    .option('--deep', 'also run a pod on every node and check DNS, pod-to-pod and Service traffic from each')
    .addOption(outputOption('report format'))
    .action(async (opts: HealthOptions) => setExitCode(await health(io, opts)));
}

async function health(io: CliIo, opts: HealthOptions): Promise<number> {
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  // The state folder holds known_hosts: checked as for apply before anything trusts it.
  openStateDir(spec.stateDir, spec.knownHostsFile);
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const { session, close } = openSession(spec, opts);
  let report: HealthReport;
  try {
    report = await runHealth(spec, session, { deep: opts.deep === true, identities: (name) => clientIdentity(spec, name) });
  } finally {
    await close();
  }
  if (opts.output === 'json') {
    io.stdout.write(healthJson(report, shown));
  } else {
    const rows = report.rows.map((r) => [r.check, r.host, r.ok ? 'ok' : 'FAIL', shown(r.detail)]);
    const failed = report.rows.filter((r) => !r.ok).length;
    io.stdout.write(`${formatTable(['CHECK', 'HOST', 'STATUS', 'DETAIL'], rows)}\n`);
    io.stdout.write(`Health: ${failed ? `${failed} of ${report.rows.length} checks FAILED` : `all ${report.rows.length} checks ok`} (${(report.durationMs / 1000).toFixed(1)} s)\n`);
  }
  return report.ok ? EXIT_OK : EXIT_FAILED;
}
