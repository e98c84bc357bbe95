import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { HostError, type KubestrapError, RestoreError, SnapshotError } from '../errors.js';
import { asKubestrapError, type ClusterSession, type OpenHost } from '../engine/session.js';
import { parseSnapshotStatus } from './metadata.js';
import {
  apiserverReadyScript,
  CONTROL_PLANE_UNITS,
  etcdHealthyScript,
  finishScript,
  manualRollback,
  restoreMemberScript,
  rollbackScript,
  stageScript,
  startScript,
  stopScript,
  type RestorePlan,
} from './restore-plan.js';
import type { CheckedSnapshot } from './store.js';

/** Progress, for whoever shows it: a step starts, a step ends. */
export interface RestoreObserver {
  step(description: string): void;
  done?(description: string, ms: number): void;
}

const ETCD_UNITS = ['etcd.service'];
/** Members starting together wait for each other (Type=notify): as long as systemd lets them. */
const START_TIMEOUT_MS = 150_000;
const HEALTHY_WITHIN_S = 90;
const STEP_TIMEOUT_MS = 300_000;

type Open = OpenHost<HostSpec>;

/**
 * The hosts a restore works on (etcd members and masters), reached before anything happens. A
 * member or master that does not answer refuses the restore, unless `allowMissing`: then it is
 * left out (a member's quorum of the others must still hold).
 */
export async function reachRestoreHosts(spec: ClusterSpec, session: ClusterSession<HostSpec>, allowMissing: boolean): Promise<{ open: Open[]; missing: string[] }> {
  const { open, lost } = await session.connect();
  const relevant = lost.filter((l) => l.host.roles.includes('etcd') || l.host.roles.includes('master'));
  if (relevant.length && !allowMissing) {
    throw new HostError(
      relevant.map((l) => l.host.name).join(', '),
      `does not answer: a restore changes every etcd member and master at once, so it is refused (${relevant.map((l) => l.error.message).join('; ')})`,
      {},
      'bring the host back and try again; or pass --allow-missing-member to restore the others (that member must then be restored by hand when it is back)',
    );
  }
  const members = spec.hosts.filter((h) => h.roles.includes('etcd'));
  const missingMembers = relevant.filter((l) => l.host.roles.includes('etcd')).length;
  if (missingMembers * 2 >= members.length) {
    throw new HostError(
      relevant.map((l) => l.host.name).join(', '),
      `${missingMembers} of ${members.length} etcd members do not answer: the others cannot form a quorum`,
      {},
      'bring the members back first',
    );
  }
  return { open, missing: relevant.map((l) => l.host.name) };
}

/**
 * `etcd restore` as a procedure on the session, in the plan's order (restore-plan.ts). The snapshot
 * is checked on every member before anything stops; from the moment a member's data is moved aside,
 * a failure says where it stopped and how to put the data back (`--rollback`, or by hand).
 */
export async function restoreSnapshot(
  spec: ClusterSpec,
  session: ClusterSession<HostSpec>,
  open: readonly Open[],
  plan: RestorePlan,
  snapshot: CheckedSnapshot,
  observer: RestoreObserver,
): Promise<void> {
  const on = (hosts: HostSpec[]) => hosts.map((h) => open.find((o) => o.host.name === h.name)).filter((o): o is Open => o !== undefined);
  const members = on(plan.members);
  const masters = on(plan.masters);
  let changed = false;

  const step = async (description: string, hosts: Open[], script: (h: Open) => string, timeoutMs = STEP_TIMEOUT_MS): Promise<void> => {
    observer.step(description);
    const began = Date.now();
    const failures = (
      await session.each(hosts, async (h) => {
        try {
          const r = await h.remote.run(script(h), { timeoutMs });
          return r.code === 0 ? undefined : new HostError(h.host.name, `exited ${r.code}`, { exitCode: r.code, stderrTail: (r.stderr || r.stdout).trim().split('\n').slice(-16).join('\n') });
        } catch (err) {
          return asKubestrapError(h.host.name, err);
        }
      })
    ).filter((e): e is KubestrapError => e !== undefined);
    if (failures.length) throw stopped(description, failures, plan, changed);
    observer.done?.(description, Date.now() - began);
  };

  // 1. The snapshot on every member, checked there; a restore left unfinished refuses a new one.
  observer.step('copy the snapshot to every member and check it there');
  const staged = await session.each(members, async (h) => {
    try {
      const r = await h.remote.runWithInput(stageScript(h.host), () => (write) => write(snapshot.data), { timeoutMs: STEP_TIMEOUT_MS });
      return { h, out: r.stdout, code: r.code, err: r.stderr };
    } catch (err) {
      return { h, out: '', code: -1, err: asKubestrapError(h.host.name, err).message };
    }
  });
  for (const { h, out, code, err } of staged) {
    const unfinished = /^unfinished (\S+)/m.exec(out)?.[1];
    if (unfinished) {
      throw new HostError(
        h.host.name,
        `a restore started at ${unfinished} was never finished or rolled back on this member`,
        {},
        'run `bootstrap etcd restore --rollback` first (it puts back the data that restore moved aside), then restore again',
      );
    }
    const hash = /^sha256 ([0-9a-f]{64})$/m.exec(out)?.[1];
    const status = parseSnapshotStatus(out);
    if (code !== 0 || hash !== snapshot.metadata.sha256 || !status || status.hash !== snapshot.metadata.status.hash) {
      throw new SnapshotError(
        snapshot.file,
        `the copy on ${h.host.name} is not the snapshot (exit ${code}, sha256 ${hash ?? 'none'}${status ? '' : ', etcdutl could not read it'}): ${err.trim().split('\n').slice(-3).join(' ')}`,
        'nothing was stopped; check the disk space under /var/lib/kubestrap on that member and try again',
      );
    }
  }

  await step(`stop the control plane on the masters (${masters.map((h) => h.host.name).join(', ')})`, masters, () => stopScript(CONTROL_PLANE_UNITS));
  changed = true;
  await step(`stop etcd on every member (${members.map((h) => h.host.name).join(', ')})`, members, () => stopScript(ETCD_UNITS));
  await step(`move each member's data aside to ${plan.aside} and restore the snapshot`, members, (h) => restoreMemberScript(h.host, plan));
  // Together: with concurrency below the member count the first would wait for a quorum that never comes.
  await step('start every member together', members, () => startScript(ETCD_UNITS), START_TIMEOUT_MS);
  await step('wait until every member is healthy', members.slice(0, 1), (h) => etcdHealthyScript(h.host, plan, HEALTHY_WITHIN_S));
  await step('start the control plane on the masters', masters, () => startScript(CONTROL_PLANE_UNITS));
  await step('wait until the API server is ready', masters, () => apiserverReadyScript(spec));
  await step('remove the staged snapshot from the members (the moved-aside data stays)', members, () => finishScript());
}

/**
 * `--rollback`: every member's data from before the restore comes back where a restore moved it
 * aside, then etcd starts on all members together and the control plane on the masters.
 */
export async function rollbackRestore(spec: ClusterSpec, session: ClusterSession<HostSpec>, open: readonly Open[], observer: RestoreObserver): Promise<{ movedBack: string[] }> {
  const members = open.filter((o) => o.host.roles.includes('etcd'));
  const masters = open.filter((o) => o.host.roles.includes('master'));
  const movedBack: string[] = [];
  const run = async (description: string, hosts: Open[], script: (h: Open) => string, timeoutMs = STEP_TIMEOUT_MS) => {
    observer.step(description);
    const began = Date.now();
    const results = await session.each(hosts, async (h) => {
      try {
        const r = await h.remote.run(script(h), { timeoutMs });
        if (r.stdout.includes('moved back')) movedBack.push(h.host.name);
        return r.code === 0 ? undefined : new HostError(h.host.name, `exited ${r.code}`, { exitCode: r.code, stderrTail: (r.stderr || r.stdout).trim().split('\n').slice(-16).join('\n') });
      } catch (err) {
        return asKubestrapError(h.host.name, err);
      }
    });
    const failures = results.filter((e): e is KubestrapError => e !== undefined);
    if (failures.length) {
      throw new RestoreError(
        description,
        `rollback stopped: ${failures.map((f) => f.format()).join('\n')}`,
        'fix what the error says on that host, then run `bootstrap etcd restore --rollback` again: each of its steps can run twice',
      );
    }
    observer.done?.(description, Date.now() - began);
  };
  const plan: RestorePlan = { stamp: '', token: '', initialCluster: '', members: members.map((m) => m.host), masters: [], missing: [], aside: '' };
  await run('stop etcd and put back the data a restore moved aside', members, () => rollbackScript());
  await run('start every member together', members, () => startScript(ETCD_UNITS), START_TIMEOUT_MS);
  await run('wait until every member is healthy', members.slice(0, 1), (h) => etcdHealthyScript(h.host, plan, HEALTHY_WITHIN_S));
  await run('start the control plane on the masters', masters, () => startScript(CONTROL_PLANE_UNITS));
  await run('wait until the API server is ready', masters, () => apiserverReadyScript(spec));
  return { movedBack };
}

function stopped(step: string, failures: KubestrapError[], plan: RestorePlan, changed: boolean): RestoreError {
  const what = failures.map((f) => f.format()).join('\n');
  return new RestoreError(
    step,
    `restore stopped at "${step}":\n${what}`,
    changed
      ? `the data from before is kept: each member's moved-aside folder is ${plan.aside} (where the move happened). Run \`bootstrap etcd restore --rollback\` (same -i/-c) to put it back and start etcd and the control plane, or by hand: ${manualRollback(plan)}`
      : 'nothing was stopped or moved',
  );
}
