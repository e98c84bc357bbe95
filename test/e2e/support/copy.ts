import { execFile } from 'node:child_process';
import { sshArgs, type LabHost, type LabInfo } from '../../lab/index.js';

/**
 * Copies a local file to a lab host with scp (lab key, strict host keys), for files too large to
 * pass through a command line (the bundle's etcd is 20 MB).
 */
export function copyToHost(lab: LabInfo, host: LabHost, local: string, remote: string, mode = '0644'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('scp', [...sshArgs(lab.sshKey, lab.knownHosts, 10), '-q', local, `root@${host.address}:${remote}`], { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`scp ${local} to ${host.name}:${remote} failed: ${stderr || err.message}`));
      execFile('ssh', [...sshArgs(lab.sshKey, lab.knownHosts, 10), `root@${host.address}`, `chmod ${mode} '${remote}'`], { timeout: 60_000 }, (e2, _o, se2) =>
        e2 ? reject(new Error(`chmod on ${host.name} failed: ${se2 || e2.message}`)) : resolve(),
      );
    });
  });
}
