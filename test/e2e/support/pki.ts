import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

const openssl = (args: string[], cwd: string): void => void execFileSync('openssl', args, { cwd, stdio: 'pipe' });

/** A throwaway CA with one serving cert (for `serverIp`) and one client cert, made with this machine's openssl. */
export function makeTestPki(serverIp: string, clientCn = 'kubestrap-e2e-admin'): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-pki-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=lab-e2e-ca', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  const issue = (name: string, subj: string, ext: string[]): void => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  };
  issue('server', '/CN=kube-apiserver', [`subjectAltName=IP:${serverIp},IP:127.0.0.1`, 'extendedKeyUsage=serverAuth']);
  issue('client', `/CN=${clientCn}/O=system:masters`, ['extendedKeyUsage=clientAuth']);
  const p = (f: string): string => path.join(dir, f);
  return { dir, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key') };
}
