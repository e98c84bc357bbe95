import path from 'node:path';
import { allPids, cmdline, procRef, type ProcRef } from './proc.js';

/**
 * Processes of a lab found by their command line, for `down` after a crash lost the state file or
 * the PIDs in it. Only the lab's own programs match: its launcher (`launcher.sh <labdir>/hosts/...`),
 * systemd-nspawn booting a dir under the lab dir, and its repo server (`--lab-dir <labdir>`). A
 * user's `tail -f <labdir>/...` does not.
 */
export function labLeftoverProcesses(labDir: string): { launchers: ProcRef[]; others: ProcRef[] } {
  const launchers: ProcRef[] = [];
  const others: ProcRef[] = [];
  const under = (p: string | undefined): boolean => p?.startsWith(labDir + '/') === true;
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    const argv = cmdline(pid);
    const isLauncher = argv[1] !== undefined && path.basename(argv[1]) === 'launcher.sh' && under(argv[2]);
    const isNspawn = argv[0] !== undefined && path.basename(argv[0]) === 'systemd-nspawn' && argv.some((a) => under(a.replace(/^--directory=/, '')) && a.startsWith('--directory='));
    const serverAt = argv.findIndex((a) => path.basename(a) === 'repo-server.mjs');
    const isServer = serverAt >= 0 && argv[argv.indexOf('--lab-dir') + 1] === labDir;
    if (!isLauncher && !isNspawn && !isServer) continue;
    try {
      (isLauncher ? launchers : others).push(procRef(pid));
    } catch {
      // exited meanwhile
    }
  }
  return { launchers, others };
}
