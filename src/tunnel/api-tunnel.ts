import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * `bootstrap tunnel`: a local port whose connections reach the API server through a master's SSH
 * connection, for a workstation that cannot reach the API server itself (a private network, a
 * firewall that only lets SSH through). TLS is end to end: the tunnel carries kubectl's bytes
 * and reads none of them, so the API server still authenticates the client certificate.
 *
 * Round trips: the SSH handshake once per master used (the pool keeps the connection), then one
 * direct-tcpip channel open per local connection; no command runs on the master. A master that
 * stops answering is skipped for the next connection, which goes to the next master that does.
 */
export interface TunnelOptions {
  /** The local port; 0 lets the system choose. */
  port: number;
  /** The masters to go through, in the order to try them. */
  masters: readonly string[];
  /** A connection to the API server, carried by the named master's SSH connection. */
  open(master: string): Promise<Duplex>;
  /** Called when a master fails to carry a connection, with why, before the next is tried. */
  onMasterFailed?(master: string, error: unknown): void;
}

export interface OpenTunnel {
  /** The local address, always loopback: the tunnel carries admin-grade access, no one else on the network gets it. */
  address: string;
  port: number;
  /** The master connections currently go through. */
  master(): string;
  close(): Promise<void>;
}

/**
 * Opens the tunnel: the first master (in `masters`' order) through which the API server's port
 * answers, then the listening port. Rejects when no master can reach its API server, with the
 * last master's error, or when the port is taken.
 */
export async function openTunnel(opts: TunnelOptions): Promise<OpenTunnel> {
  if (opts.masters.length === 0) throw new Error('no master to go through');
  let current = 0;
  const connectThroughAny = async (): Promise<Duplex> => {
    let lastError: unknown;
    for (let tried = 0; tried < opts.masters.length; tried++) {
      const i = (current + tried) % opts.masters.length;
      try {
        const channel = await opts.open(opts.masters[i]!);
        current = i;
        return channel;
      } catch (err) {
        lastError = err;
        opts.onMasterFailed?.(opts.masters[i]!, err);
      }
    }
    throw lastError;
  };
  // Proves a path to the API server before anyone is told to use the port.
  (await connectThroughAny()).destroy();
  const sockets = new Set<Socket>();
  // Half-open: a client that has sent all it will (FIN) still gets the answer, as through a direct connection.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    carry(socket, connectThroughAny);
  });
  await listen(server, opts.port);
  const bound = server.address();
  if (!bound || typeof bound === 'string') throw new Error('the tunnel has no TCP address');
  return {
    address: bound.address,
    port: bound.port,
    master: () => opts.masters[current]!,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Joins a local connection with its channel; either side ending ends the other, once what it sent is delivered; a failure ends both. */
function carry(socket: Socket, connect: () => Promise<Duplex>): void {
  // Bytes kubectl sends before the channel is open wait in the paused socket.
  socket.pause();
  socket.on('error', () => socket.destroy());
  connect().then(
    (channel) => {
      if (socket.destroyed) return void channel.destroy();
      channel.on('error', () => socket.destroy());
      // Ended, not destroyed: what the channel delivered last may still be on its way to the client.
      channel.once('close', () => socket.end());
      socket.once('close', () => channel.destroy());
      socket.pipe(channel);
      channel.pipe(socket);
      socket.resume();
    },
    () => socket.destroy(),
  );
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
