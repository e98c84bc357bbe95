import type { Duplex } from 'node:stream';
import { HostError } from '../errors.js';
import type { RemoteHost } from '../ssh/remote-host.js';

/** A TCP connection the host opens to `address:port` (from its own view: 127.0.0.1 is the host itself). */
export type HostChannel = (address: string, port: number) => Promise<Duplex>;

/** The channels of `host`'s SSH connection (a host not reached over SSH has none: opening one fails, saying so). */
export function channelOf(host: string, remote: RemoteHost): HostChannel {
  const forward = remote.forwardOut?.bind(remote);
  return (address, port) => (forward ? forward(address, port) : Promise.reject(new HostError(host, `cannot open ${address}:${port}: the host is not reached over SSH`)));
}
