/** The SSH layer: the only way the engine talks to hosts. */
export type { SshAuth, SshEndpoint, SshTarget } from './target.js';
export { SshPool, type SshOptions } from './pool.js';
export type { RemoteHost, RunOptions, HostStats } from './remote-host.js';
export type { ExecResult } from './exec.js';
export type { PutFileOptions } from './put-file.js';
export type { SshLogEvent, SshLogKind } from './log.js';
export { shq, shJoin } from './quote.js';
