import fs from 'node:fs';
import { unmountUnder } from './mounts.js';
import { sh } from './run.js';

/**
 * A throwaway overlay of the rootfs at `work`/merged, for what a fresh host would do (resolve and
 * download packages, install them) without changing the rootfs every host shares. `use` runs while
 * it is mounted; afterwards it is unmounted and `work` deleted.
 */
export async function withRootfsOverlay<T>(rootfs: string, work: string, use: (merged: string) => Promise<T>): Promise<T> {
  const d = { upper: `${work}/upper`, work: `${work}/work`, merged: `${work}/merged` };
  for (const x of Object.values(d)) fs.mkdirSync(x, { recursive: true });
  await sh`mount -t overlay overlay -o ${`lowerdir=${rootfs},upperdir=${d.upper},workdir=${d.work}`} ${d.merged}`;
  try {
    return await use(d.merged);
  } finally {
    await unmountUnder(d.merged);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Runs `script` with /bin/sh as root in the overlay (systemd-nspawn, not booted, the machine's
 * resolver), its output in `logFile`; a failure names `what` and ends with the log's last lines.
 */
export async function runInOverlay(merged: string, script: string, opts: { logFile: string; what: string; bindReadOnly?: string[] }): Promise<void> {
  const binds = (opts.bindReadOnly ?? []).map((dir) => `--bind-ro=${dir}`);
  await sh`systemd-nspawn --quiet --register=no --keep-unit --resolv-conf=copy-host ${binds} --directory=${merged} /bin/sh -c ${script} >${opts.logFile} 2>&1`.catch(() => {
    const tail = fs.readFileSync(opts.logFile, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`${opts.what} failed (log: ${opts.logFile}):\n${tail}`);
  });
  fs.rmSync(opts.logFile, { force: true });
}
