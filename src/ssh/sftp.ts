import type { Client, InputAttributes, SFTPWrapper } from 'ssh2';
import { SshError } from '../errors.js';

/**
 * A promise-based view of one SFTP session that counts every request (each is one request/response
 * exchange with the server) and names the host and path in every error.
 *
 * Requests on one session may be in flight together: OpenSSH's sftp-server answers them in order,
 * so putFile sends write, setstat and close back to back and waits once.
 */

/** SFTP status codes we react to (draft-ietf-secsh-filexfer-02). */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;

/** Per-request payload size. 32 KiB is what every SFTP server must accept; larger buys little for config files. */
const CHUNK = 32 * 1024;

export class SftpSession {
  constructor(
    private readonly host: string,
    private readonly sftp: SFTPWrapper,
    private readonly count: (what: string) => void,
  ) {}

  /** Opens the SFTP subsystem on a connection (counted once by the caller: channel, subsystem, version). */
  static open(client: Client, host: string, count: (what: string) => void, onClose: () => void): Promise<SftpSession> {
    return new Promise((resolve, reject) => {
      const onOpened = (err: Error | undefined, sftp: SFTPWrapper) => {
        if (err) {
          reject(new SshError(host, 'sftp', `cannot start SFTP: ${err.message}`, "make sure the host's sshd has an sftp Subsystem line (it does by default)"));
          return;
        }
        sftp.on('close', onClose);
        // A broken session is dropped and reopened on next use; its pending requests fail on their own.
        sftp.on('error', onClose);
        resolve(new SftpSession(host, sftp, count));
      };
      try {
        client.sftp(onOpened);
      } catch (err) {
        reject(new SshError(host, 'sftp', `cannot start SFTP, the connection is lost: ${(err as Error).message}`, 'the host may have rebooted or dropped off the network; check it and re-run'));
      }
    });
  }

  /** Creates a new file that must not exist yet (O_EXCL, so a planted symlink is never followed). */
  createExclusive(path: string, mode: number): Promise<Buffer> {
    return this.request(`OPEN ${path}`, (cb: (err: Error | null | undefined, h: Buffer) => void) => this.sftp.open(path, 'wx', { mode }, cb));
  }

  /** Writes the whole buffer in 32 KiB requests, all sent at once (one exchange each). */
  writeAll(handle: Buffer, path: string, data: Buffer): Promise<void>[] {
    const writes: Promise<void>[] = [];
    for (let off = 0; off < data.length; off += CHUNK) {
      const len = Math.min(CHUNK, data.length - off);
      writes.push(this.request(`WRITE ${path} @${off}+${len}`, (cb: (err: Error | null | undefined) => void) => this.sftp.write(handle, data, off, len, off, cb)));
    }
    return writes;
  }

  setAttributes(handle: Buffer, path: string, attrs: InputAttributes): Promise<void> {
    return this.request(`FSETSTAT ${path}`, (cb: (err: Error | null | undefined) => void) => this.sftp.fsetstat(handle, attrs, cb));
  }

  close(handle: Buffer, path: string): Promise<void> {
    return this.request(`CLOSE ${path}`, (cb: (err: Error | null | undefined) => void) => this.sftp.close(handle, cb));
  }

  /** posix-rename@openssh.com: rename(2) semantics, atomically replacing the target (plain SFTP rename refuses to). */
  rename(from: string, to: string): Promise<void> {
    return this.request(`RENAME ${from} -> ${to}`, (cb: (err: Error | null | undefined) => void) => {
      try {
        this.sftp.ext_openssh_rename(from, to, cb);
      } catch (err) {
        cb(err as Error);
      }
    });
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.request(`MKDIR ${path}`, (cb: (err: Error | null | undefined) => void) => this.sftp.mkdir(path, { mode }, cb));
  }

  unlink(path: string): Promise<void> {
    return this.request(`REMOVE ${path}`, (cb: (err: Error | null | undefined) => void) => this.sftp.unlink(path, cb));
  }

  realpath(path: string): Promise<string> {
    return this.request(`REALPATH ${path}`, (cb: (err: Error | null | undefined, p: string) => void) => this.sftp.realpath(path, cb));
  }

  end(): void {
    this.sftp.end();
  }

  private request<T = void>(what: string, send: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
    this.count(what);
    return new Promise<T>((resolve, reject) => {
      send((err, value) => (err ? reject(this.wrap(what, err)) : resolve(value)));
    });
  }

  private wrap(what: string, err: Error & { code?: number | string }): SshError {
    const e = new SshError(this.host, 'sftp', `${what} failed: ${err.message}`, hintFor(err.code));
    if (err.code !== undefined) statusCodes.set(e, err.code);
    return e;
  }
}

// The server's status code behind each SFTP error, for callers that react to "no such file".
const statusCodes = new WeakMap<SshError, number | string>();

/** The SFTP status code of a failed request, if the server sent one. */
export function sftpCode(err: unknown): number | string | undefined {
  return err instanceof SshError ? statusCodes.get(err) : undefined;
}

function hintFor(code: number | string | undefined): string {
  if (code === SFTP_PERMISSION_DENIED) return 'the login user may not write there: log in as root or use a sudo user';
  if (code === SFTP_NO_SUCH_FILE) return 'a directory on the path does not exist';
  return 'check the path and free space on the host';
}
