import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect, type TLSSocket } from 'node:tls';

/** A client certificate of the cluster's PKI with the CA that signs the servers it talks to (PEM text). */
export interface ClientIdentity {
  ca: string;
  cert: string;
  key: string;
}

/**
 * A TCP connection opened by a host for the controller (a forwarded channel of its pooled SSH
 * connection) to `address:port` as the host sees it.
 */
export type OpenChannel = (address: string, port: number) => Promise<Duplex>;

/**
 * TLS over `channel`: the server is verified against the identity's CA and must name `address`
 * (every serving certificate of the cluster names 127.0.0.1, where the channel arrives); the client
 * presents the identity's certificate. An IP is never sent as SNI (RFC 6066 forbids it).
 * Round trips: the TLS handshake only, inside the already open channel.
 */
export function tlsOver(channel: Duplex, identity: ClientIdentity, address: string, alpn?: string[]): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      socket: channel,
      ca: identity.ca,
      cert: identity.cert,
      key: identity.key,
      host: address,
      ...(isIP(address) ? {} : { servername: address }),
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
