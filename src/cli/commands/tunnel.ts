import { Command, Option } from 'commander';
import { localApiserver } from '../../components/catalog.js';
import { loadClusterSpec } from '../../config/cluster-spec.js';
import { KubestrapError } from '../../errors.js';
import { displayFilter, filteredJson } from '../../printable.js';
import { targetSecrets } from '../../ssh/auth.js';
import { openStateDir } from '../../state/state-dir.js';
import { openTunnel } from '../../tunnel/api-tunnel.js';
import { printWarnings, type CliIo } from '../io.js';
import { clusterSources, openPool, outputOption, withConnectionOptions, withInputOptions, type ConnectionOptions, type OutputMode } from '../options.js';
import { tunnelReportSchema, type TunnelReport } from '../output/access-json.js';
import { UsageError } from '../usage-error.js';

interface TunnelCommandOptions extends ConnectionOptions {
  port?: number;
  output: OutputMode;
}

/** What stops the tunnel; a test passes its own. */
export type StopSignal = Promise<void>;

function untilSignalled(): StopSignal {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** `bootstrap tunnel`: a local port to the API server over a master's SSH connection, until Ctrl-C or SIGTERM. */
export function tunnelCommand(io: CliIo, stop: () => StopSignal = untilSignalled): Command {
  return withConnectionOptions(withInputOptions(new Command('tunnel')))
    .description(
      "Listens on 127.0.0.1:<port> and carries each connection to the API server's secure port on the first master that answers, " +
        "inside its SSH connection (the master's sshd must allow TCP forwarding), for a machine that reaches the hosts' SSH but not the API server. " +
        'TLS stays end to end. Runs until Ctrl-C or SIGTERM. Point a kubeconfig at it with `bootstrap kubeconfig --tunnel-port <port>`.',
    )
    .addOption(new Option('--port <port>', 'the local port (default: KUBE_APISERVER_PORT; 0: any free one)').argParser(localPort))
    .addOption(outputOption('how to announce the tunnel: json prints one line once it listens'))
    .action(async (opts: TunnelCommandOptions) => {
      await runTunnel(io, opts, stop());
    });
}

/** 0 lets the system choose a free port (the announcement says which). */
function localPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new UsageError(`"${value}" is not a port`, 'give a port from 1 to 65535, or 0 for any free one');
  return port;
}

async function runTunnel(io: CliIo, opts: TunnelCommandOptions, stopped: StopSignal): Promise<void> {
  const spec = loadClusterSpec(clusterSources(opts));
  printWarnings(io, spec.warnings);
  openStateDir(spec.stateDir, spec.knownHostsFile);
  const masters = spec.hosts.filter((h) => h.roles.includes('master'));
  const api = new URL(localApiserver(spec));
  const shown = displayFilter(spec.hosts.flatMap((h) => targetSecrets(h.ssh)));
  const pool = openPool(spec, opts);
  try {
    const tunnel = await openTunnel({
      port: opts.port ?? Number(spec.values.KUBE_APISERVER_PORT),
      masters: masters.map((m) => m.name),
      open: (name) => pool.forwardOut(masters.find((m) => m.name === name)!.ssh, api.hostname, Number(api.port)),
      onMasterFailed: (name, err) => io.stderr.write(`${shown(`${name}: cannot reach its API server: ${err instanceof KubestrapError ? err.format() : String(err)}`)}\n`),
    }).catch((err: unknown) => {
      throw portTaken(err, opts.port) ?? err;
    });
    const server = `https://${tunnel.address}:${tunnel.port}`;
    const announce: TunnelReport = { listening: `${tunnel.address}:${tunnel.port}`, server, master: tunnel.master(), apiserver: `${api.hostname}:${api.port}` };
    io.stdout.write(
      opts.output === 'json'
        ? // One line, not jsonReport's indented block: a script reads the announcement as the first line of a process that keeps running.
          `${filteredJson(tunnelReportSchema.parse(announce), shown)}\n`
        : shown(
            `tunnel to the API server (${announce.apiserver} on ${announce.master}) listening on ${server}; Ctrl-C stops it\n` +
              `  kubeconfig: bootstrap kubeconfig -i ${opts.inventory} -c ${opts.config} --user <you> --tunnel-port ${tunnel.port}\n` +
              `  or: kubectl --server ${server} ...\n`,
          ),
    );
    await stopped;
    await tunnel.close();
  } finally {
    await pool.closeAll();
  }
}

function portTaken(err: unknown, port: number | undefined): UsageError | undefined {
  if ((err as NodeJS.ErrnoException)?.code !== 'EADDRINUSE') return undefined;
  return new UsageError(`127.0.0.1:${(err as { port?: number }).port ?? port} is already in use on this machine`, 'choose another with --port (and the same --tunnel-port for `bootstrap kubeconfig`)');
}
