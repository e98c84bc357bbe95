import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ServerChannel, Session } from 'ssh2';

/**
 * A real SSH server in the test process (ssh2's Server on 127.0.0.1, random port). Commands run
 * through the local bash (as a login shell would run them), with a stand-in `sudo` first on PATH whose behaviour each user picks;
 * the SFTP subsystem is the real OpenSSH sftp-server when it is installed.
 */

export type SudoMode = 'nopasswd' | 'password' | 'denied';

export interface TestUser {
  password?: string;
  /** Public key in OpenSSH one-line form. */
  publicKey?: string;
  sudo?: SudoMode;
  sudoPassword?: string;
  /** sudoers `Defaults requiretty`: sudo refuses to run without a tty. */
  requiretty?: boolean;
}

export interface TestServerOptions {
  /** Host private keys (one per type the server offers). */
  hostKeys: string[];
  users: Record<string, TestUser>;
  /** Default: a random free port. */
  port?: number;
}

export interface TestServer {
  port: number;
  /** TCP connections accepted. */
  connections: number;
  /** Authentication requests seen (any method but "none"). */
  authAttempts: number;
  /** Commands received, in order. */
  commands: string[];
  /** Exec requests that came with a pty. */
  ptyExecs: number;
  /** direct-tcpip channels opened through this server (it acts as a jump host). */
  tunnels: number;
  /** Directory the commands run in (the users' home). */
  home: string;
  stop(): Promise<void>;
}

const LOGIN_SHELL = ['/bin/bash', '/usr/bin/bash'].find((p) => existsSync(p)) ?? '/bin/sh';

const SFTP_SERVER_PATHS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server'];
export const sftpServerPath: string | undefined = SFTP_SERVER_PATHS.find((p) => existsSync(p));

// A sudo stand-in with the behaviours we need to test: NOPASSWD, password on stdin (-S), denied, and requiretty.
const FAKE_SUDO = `#!/bin/sh
stdin=
while [ $# -gt 0 ]; do
  case "$1" in
    -n) shift ;;
    -S) stdin=1; shift ;;
    -p) shift 2 ;;
    *) break ;;
  esac
done
if [ -n "$FAKE_REQUIRETTY" ] && [ -z "$FAKE_TTY" ]; then
  echo "sudo: sorry, you must have a tty to run sudo" >&2; exit 1
fi
case "$FAKE_SUDO" in
  nopasswd) exec "$@" ;;
  denied) echo "$USER is not in the sudoers file.  This incident will be reported." >&2; exit 1 ;;
  password)
    if [ -z "$stdin" ]; then echo "sudo: a password is required" >&2; exit 1; fi
    IFS= read -r pw
    if [ "$pw" = "$FAKE_SUDO_PASSWORD" ]; then exec "$@"; fi
    echo "sudo: 1 incorrect password attempt" >&2; exit 1 ;;
esac
echo "sudo: unknown mode" >&2; exit 1
`;

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const home = await mkdtemp(path.join(tmpdir(), 'ks-ssh-home-'));
  const bin = path.join(home, '.fakebin');
  await mkdir(bin, { recursive: true });
  await writeFile(path.join(bin, 'sudo'), FAKE_SUDO);
  await chmod(path.join(bin, 'sudo'), 0o755);

  const state = { connections: 0, authAttempts: 0, commands: [] as string[], ptyExecs: 0, tunnels: 0 };
  const clients = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: opts.hostKeys }, (client) => {
    state.connections++;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    let user: TestUser | undefined;
    let userName = '';
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'none') state.authAttempts++;
      const u = opts.users[ctx.username];
      if (u && authOk(ctx, u)) {
        user = u;
        userName = ctx.username;
        ctx.accept();
      } else {
        ctx.reject(['publickey', 'password']);
      }
    });
    client.on('ready', () => {
      // Port forwarding, as a jump host does it: open the TCP connection and splice it in.
      client.on('tcpip', (accept, reject, info) => {
        const sock = tcpConnect(info.destPort, info.destIP);
        sock.once('connect', () => {
          state.tunnels++;
          const channel = accept();
          channel.pipe(sock).pipe(channel);
          channel.on('error', () => undefined);
        });
        sock.on('error', () => reject());
      });
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        handleSession(session, () => ({ user: user ?? {}, userName }), home, bin, state);
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    home,
    get connections() {
      return state.connections;
    },
    get authAttempts() {
      return state.authAttempts;
    },
    get commands() {
      return state.commands;
    },
    get ptyExecs() {
      return state.ptyExecs;
    },
    get tunnels() {
      return state.tunnels;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}

function authOk(ctx: AuthContext, u: TestUser): boolean {
  if (ctx.method === 'password') return u.password !== undefined && ctx.password === u.password;
  if (ctx.method === 'publickey' && u.publicKey) {
    const allowed = ssh2.utils.parseKey(u.publicKey);
    if (allowed instanceof Error || Array.isArray(allowed)) return false;
    if (ctx.key.algo !== allowed.type || !ctx.key.data.equals(allowed.getPublicSSH())) return false;
    // No signature yet: the client only asks whether this key would do.
    if (!ctx.signature || !ctx.blob) return true;
    return allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
  }
  return false;
}

function handleSession(session: Session, who: () => { user: TestUser; userName: string }, home: string, bin: string, state: { commands: string[]; ptyExecs: number }): void {
  let pty = false;
  let kill: ((sig: NodeJS.Signals) => void) | undefined;
  session.on('pty', (accept) => {
    pty = true;
    accept?.();
  });
  session.on('signal', (accept, _reject, info) => {
    accept?.();
    kill?.(`SIG${info.name}` as NodeJS.Signals);
  });
  session.on('exec', (accept, _reject, info) => {
    const stream = accept();
    state.commands.push(info.command);
    if (pty) state.ptyExecs++;
    const { user, userName } = who();
    // Like sshd: the login shell runs the command line (bash, as for root on most distros; it
    // execs a lone command, so a signal death reaches the client as one).
    const child = spawn(LOGIN_SHELL, ['-c', info.command], {
      cwd: home,
      env: {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: home,
        USER: userName,
        FAKE_SUDO: user.sudo ?? 'denied',
        FAKE_SUDO_PASSWORD: user.sudoPassword ?? '',
        ...(pty ? { FAKE_TTY: '1' } : {}),
        ...(user.requiretty ? { FAKE_REQUIRETTY: '1' } : {}),
      },
    });
    kill = (sig) => child.kill(sig);
    pipeChild(stream, child, pty);
  });
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp' || !sftpServerPath) return reject?.();
    const stream = accept();
    const child = spawn(sftpServerPath, [], { cwd: home });
    pipeChild(stream, child, false);
  });
}

function pipeChild(stream: ServerChannel, child: ReturnType<typeof spawn>, mergeStderr: boolean): void {
  stream.pipe(child.stdin!);
  child.stdin!.on('error', () => undefined);
  child.stdout!.pipe(stream, { end: false });
  child.stderr!.pipe(mergeStderr ? stream : stream.stderr, { end: false });
  child.on('close', (code, signal) => {
    if (signal) stream.exit(signal.replace(/^SIG/, ''), false, '');
    else stream.exit(code ?? 0);
    stream.end();
  });
}
