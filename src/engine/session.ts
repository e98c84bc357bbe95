import { HostError, KubestrapError, SshError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';
import type { SshTarget } from '../ssh/target.js';
import { factsScript, parseFacts, type FactQuery, type HostFacts } from './facts.js';
import type { HostChannel } from './host-channel.js';
import { mapLimit } from './limit.js';
import { parseSections, sectionedScript } from './sections.js';
import type { TargetHost } from './target.js';

/**
 * The hosts of one command, reached once. Every procedure (converge, health, certs check, and the
 * day-two ones: removal, reset, backup, restore, upgrade order) runs on a session instead of
 * building its own fan-out: connections, the fact command, one sectioned command per host, and the
 * first host that answers among candidates live here.
 *
 * Round trips: one SSH handshake per host (the pool keeps the connection for the whole command),
 * one command for the facts when a procedure reads them, then whatever the procedure sends; hosts
 * in parallel, `concurrency` at a time.
 */
export interface SessionOptions {
  connect(target: SshTarget): Promise<RemoteHost>;
  concurrency: number;
  log?: (event: Record<string, unknown>) => void;
}

/** A host that answered. */
export interface OpenHost<H extends TargetHost> {
  host: H;
  remote: RemoteHost;
}

export interface HostWithFacts<H extends TargetHost> extends OpenHost<H> {
  facts: HostFacts;
}

/** A host the session could not reach, or that failed while it was being read. */
export interface LostHost<H extends TargetHost> {
  host: H;
  status: 'unreachable' | 'failed';
  error: KubestrapError;
}

export interface Reached<H extends TargetHost, X extends OpenHost<H>> {
  open: X[];
  lost: Array<LostHost<H>>;
}

/** Progress of the connect stage, for whoever shows it. */
export interface ConnectObserver {
  started?(host: string): void;
  finished?(host: string, status: 'ok' | 'unreachable' | 'failed'): void;
}

export class ClusterSession<H extends TargetHost> {
  /** Handshakes started by `connectEarly`, each taken (failure included) by the host's first connect. */
  private readonly early = new Map<string, Promise<RemoteHost>>();

  constructor(
    readonly hosts: readonly H[],
    private readonly opts: SessionOptions,
  ) {}

  /**
   * Starts the handshakes with the first hosts (as many as are connected at once) now, so that they
   * overlap what the command still does on the controller before it needs them (issuing the PKI,
   * setting up its view). Still one handshake per host: the first connect takes the started one,
   * its failure included (asking the pool again would try the host a second time). `only`: the
   * hosts a limited run changes, which it reads whatever else it reads.
   */
  connectEarly(only?: readonly string[]): void {
    const hosts = only ? this.hosts.filter((h) => only.includes(h.name)) : this.hosts;
    for (const host of hosts.slice(0, this.opts.concurrency)) {
      if (this.early.has(host.name)) continue;
      const started = this.opts.connect(host.ssh);
      // Said by the connect that takes it; until then, not an unhandled rejection.
      started.catch(() => undefined);
      this.early.set(host.name, started);
    }
  }

  get concurrency(): number {
    return this.opts.concurrency;
  }

  /** Every host reached (the pool's handshake, no command): what needs nothing but a command per host. */
  async connect(observer?: ConnectObserver): Promise<Reached<H, OpenHost<H>>> {
    return this.reach(this.hosts, observer, async (host, remote) => ({ host, remote }));
  }

  /**
   * Every host reached and its facts read in one command: the engine's own (OS, kernel, addresses,
   * clock) plus `snippets`, named shell snippets that only look. `accept` may refuse a host for what
   * its facts say (it throws a HostError): that host is lost, the others go on. Only `hosts` are
   * contacted (some of the session's: a run limited to some hosts).
   */
  async readFacts(
    snippets: (host: H) => Readonly<Record<string, string>>,
    observer?: ConnectObserver,
    accept?: (host: H, facts: HostFacts) => void,
    hosts: readonly H[] = this.hosts,
    queries: (host: H) => Readonly<Record<string, FactQuery>> = () => ({}),
  ): Promise<Reached<H, HostWithFacts<H>>> {
    return this.reach(hosts, observer, async (host, remote) => {
      const began = Date.now();
      const sentAt = Date.now();
      // The controller's own requests go through the host's channels while its fact command runs.
      const asked = Promise.all(Object.entries(queries(host)).map(async ([key, query]) => [key, await query(channelOf(remote)).catch(() => undefined)] as const));
      const output = (await remote.run(factsScript(snippets(host)))).stdout;
      const facts = parseFacts(output, { sentAt, receivedAt: Date.now() });
      for (const [key, answer] of await asked) if (answer !== undefined) facts.extra[key] = answer;
      accept?.(host, facts);
      this.opts.log?.({ event: 'facts', host: host.name, os: facts.os.prettyName, kernel: facts.kernel, clockSkewMs: facts.clockSkewMs, durationMs: Date.now() - began });
      return { host, remote, facts };
    });
  }

  /** `work` on each host, `concurrency` at a time, in the hosts' order. */
  each<X, T>(hosts: readonly X[], work: (h: X) => Promise<T>): Promise<T[]> {
    return mapLimit(hosts, this.opts.concurrency, work);
  }

  /** One command of named sections on a host, its output cut back into them. */
  async sections(h: OpenHost<H>, sections: ReadonlyArray<readonly [string, string]>): Promise<Map<string, string>> {
    return parseSections((await h.remote.run(sectionedScript(sections))).stdout);
  }

  /** The first of `candidates`, in their order, among `hosts` that `usable` accepts. */
  first<X extends OpenHost<H>>(hosts: readonly X[], candidates: readonly string[], usable: (h: X) => boolean = () => true): X | undefined {
    for (const name of candidates) {
      const found = hosts.find((h) => h.host.name === name && usable(h));
      if (found) return found;
    }
    return undefined;
  }

  private async reach<X extends OpenHost<H>>(hosts: readonly H[], observer: ConnectObserver | undefined, read: (host: H, remote: RemoteHost) => Promise<X>): Promise<Reached<H, X>> {
    const results = await this.each(hosts, async (host): Promise<X | LostHost<H>> => {
      observer?.started?.(host.name);
      try {
        const opened = await read(host, await this.open(host));
        observer?.finished?.(host.name, 'ok');
        return opened;
      } catch (err) {
        const error = asKubestrapError(host.name, err);
        const status = err instanceof SshError && err.stage === 'connect' ? 'unreachable' : 'failed';
        this.opts.log?.({ event: 'connect-failed', host: host.name, status, error: error.format() });
        observer?.finished?.(host.name, status);
        return { host, status, error };
      }
    });
    const isLost = (r: X | LostHost<H>): r is LostHost<H> => !('remote' in r);
    return { open: results.filter((r): r is X => !isLost(r)), lost: results.filter(isLost) };
  }

  private open(host: H): Promise<RemoteHost> {
    const started = this.early.get(host.name);
    this.early.delete(host.name);
    return started ?? this.opts.connect(host.ssh);
  }
}

export function asKubestrapError(host: string, err: unknown): KubestrapError {
  return err instanceof KubestrapError ? err : new HostError(host, String((err as Error)?.message ?? err));
}

/** Channels the host opens for the controller (forwarded TCP over its SSH connection); refused where the host is not reached over SSH. */
export function channelOf(remote: RemoteHost): HostChannel {
  const forward = remote.forwardOut?.bind(remote);
  return (address, port) => (forward ? forward(address, port) : Promise.reject(new HostError(remote.name, `cannot open ${address}:${port}: the host is not reached over SSH`)));
}
