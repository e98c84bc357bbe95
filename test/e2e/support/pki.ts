import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A certificate (or CA) and its key, as files on this machine. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** Subject organizations (Kubernetes groups). */
  o?: string[];
  /** Subject alternative names: IP addresses or DNS names. */
  sans?: string[];
  /** Extended key usages; a server certificate of etcd needs both (its gateway dials itself as a client). */
  usage: Array<'server' | 'client'>;
}

/**
 * Throwaway certificate authorities for one test file, made with this machine's openssl: as many
 * separate CAs as the test needs (a Kubernetes CA, an etcd CA, a foreign one), certificates with the
 * subjects the components read (CN = user, O = groups) and EC P-256 keys (fast to make).
 */
export class TestPki {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-pki-'));

  private openssl(args: string[], input?: string): string {
    return execFileSync('openssl', args, { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'], input }).toString();
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  ca(name: string): CertFiles {
    const files = { cert: this.file(`${name}.crt`), key: this.file(`${name}.key`) };
    this.openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      files.key,
      '-out',
      files.cert,
    ]);
    return files;
  }

  issue(ca: CertFiles, name: string, cn: string, opts: IssueOptions): CertFiles {
    const files = { cert: this.file(`${name}.crt`), key: this.file(`${name}.key`) };
    const subject = `/CN=${cn}${(opts.o ?? []).map((o) => `/O=${o}`).join('')}`;
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', files.key, '-out', this.file(`${name}.csr`)]);
    const usage = opts.usage.map((u) => (u === 'server' ? 'serverAuth' : 'clientAuth')).join(',');
    const ext = [`extendedKeyUsage=${usage}`, 'keyUsage=critical,digitalSignature,keyEncipherment'];
    if (opts.sans?.length) {
      ext.push(`subjectAltName=${opts.sans.map((s) => (/^[\d.]+$|:/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',')}`);
    }
    fs.writeFileSync(this.file(`${name}.ext`), ext.join('\n') + '\n');
    this.openssl(['x509', '-req', '-in', this.file(`${name}.csr`), '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', this.file(`${name}.ext`), '-out', files.cert]);
    return files;
  }

  /** An RSA key pair (service-account token signing), as `<name>.key` and `<name>.pub`. */
  rsaKeyPair(name: string): { key: string; pub: string } {
    const key = this.file(`${name}.key`);
    const pub = this.file(`${name}.pub`);
    this.openssl(['genrsa', '-out', key, '2048']);
    this.openssl(['pkey', '-in', key, '-pubout', '-out', pub]);
    return { key, pub };
  }

  /** A kubeconfig with embedded certificates, the shape kubestrap writes. */
  kubeconfig(server: string, ca: CertFiles, client: CertFiles, user = 'user'): string {
    const b64 = (f: string): string => fs.readFileSync(f).toString('base64');
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: lab`,
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority-data: ${b64(ca.cert)}`,
      'users:',
      `- name: ${user}`,
      '  user:',
      `    client-certificate-data: ${b64(client.cert)}`,
      `    client-key-data: ${b64(client.key)}`,
      'contexts:',
      `- name: ${user}@lab`,
      '  context:',
      '    cluster: lab',
      `    user: ${user}`,
      `current-context: ${user}@lab`,
      '',
    ].join('\n');
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A CA, one serving certificate (for `serverIp`) and one client certificate (`O=system:masters`), as files. */
export interface SimplePki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** The common case of TestPki in one call; remove `dir` when done. */
export function makeTestPki(serverIp: string, clientCn = 'kubestrap-e2e-admin'): SimplePki {
  const pki = new TestPki();
  const ca = pki.ca('ca');
  const server = pki.issue(ca, 'server', 'kube-apiserver', { sans: [serverIp, '127.0.0.1'], usage: ['server'] });
  const client = pki.issue(ca, 'client', clientCn, { o: ['system:masters'], usage: ['client'] });
  return { dir: pki.dir, caCert: ca.cert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}
