import fs from 'node:fs';

/**
 * A process the lab started, remembered with its kernel start time so that a PID reused by some
 * unrelated process after a crash or reboot is never signalled.
 */
export interface ProcRef {
  pid: number;
  start: string;
}

/** Field 22 of /proc/PID/stat (after the `(comm)` which may contain spaces). */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function procRef(pid: number): ProcRef {
  const start = startTimeOf(pid);
  if (start === undefined) throw new Error(`process ${pid} exited right after it was started; see its log`);
  return { pid, start };
}

/** True while the remembered process (not just any process with that PID) is running. */
export function isAlive(ref: ProcRef | undefined): ref is ProcRef {
  if (!ref) return false;
  if (startTimeOf(ref.pid) !== ref.start) return false;
  return !isZombie(ref.pid);
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

export function cmdline(pid: number): string[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '');
  } catch {
    return [];
  }
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // task ended while we looked
    }
  }
  return out;
}

export function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** PID as seen inside its innermost PID namespace (last NSpid field): 1 for a container's init. */
export function innermostPid(pid: number): number | undefined {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const last = m?.[1]?.trim().split(/\s+/).pop();
    return last === undefined ? undefined : Number(last);
  } catch {
    return undefined;
  }
}

export function signal(ref: ProcRef, sig: NodeJS.Signals): void {
  if (!isAlive(ref)) return;
  try {
    process.kill(ref.pid, sig);
  } catch {
    // it exited between the check and the kill
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until every process has exited; returns those still alive at the deadline. */
export async function waitExit(refs: ProcRef[], timeoutMs: number): Promise<ProcRef[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = refs.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** SIGTERM, wait, then SIGKILL what is left: the polite stop for processes the lab started. */
export async function terminate(refs: ProcRef[], graceMs: number): Promise<void> {
  for (const r of refs) signal(r, 'SIGTERM');
  const stubborn = await waitExit(refs, graceMs);
  for (const r of stubborn) signal(r, 'SIGKILL');
  const left = await waitExit(stubborn, 5_000);
  if (left.length > 0) throw new Error(`processes ${left.map((r) => r.pid).join(', ')} survived SIGKILL; check 'ps -o pid,stat,cmd -p ${left.map((r) => r.pid).join(',')}' (stuck in D state?)`);
}
