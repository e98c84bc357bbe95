import { execFile } from 'node:child_process';
import { sshArgs, type LabHost, type LabInfo } from '../../lab/index.js';

/** Runs a command over real ssh (lab key, lab known_hosts, strict checking): what the product does. */
export function sshRun(lab: LabInfo, host: LabHost, command: string, user = 'root', timeoutSec = 3): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ssh', [...sshArgs(lab.sshKey, lab.knownHosts, timeoutSec), `${user}@${host.address}`, command], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
