import type { Duplex } from 'node:stream';

/** A TCP connection the host opens to `address:port` (from its own view: 127.0.0.1 is the host itself). */
export type HostChannel = (address: string, port: number) => Promise<Duplex>;
