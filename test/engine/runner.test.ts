import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_RECORD_DIR, HOST_RECORD_FILE, phaseRecordLine } from '../../src/engine/host-record.js';
import { withInstalled } from '../../src/engine/installed.js';
import { defineQueryFact, readFact } from '../../src/engine/facts.js';
import type { TargetHost } from '../../src/engine/target.js';
import type { ClusterAction } from '../../src/phases/context.js';
import { runSucceeded, type HostStatus, type PhaseHostReport, type RunReport } from '../../src/engine/report.js';
import type { CommandResource, FileResource, LocalFileResource, ReadinessCheck, RecordResource, Resource, ServiceResource } from '../../src/engine/resource.js';
import type { RunMode } from '../../src/engine/runner.js';
import { runEngine, type EngineRunOptions, type TestPhase as Phase } from '../support/engine-run.js';
import type { Upload } from '../../src/transfer/upload.js';
import { ArtifactError } from '../../src/errors.js';
import type { RemoteHost } from '../../src/ssh/remote-host.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';
import { shRun, shRunToOutput, shRunWithInput } from './support.js';
import { fakeCluster, type FakeCluster } from './support/fake-cluster.js';
import { LOCAL_OWNER, type HostModel } from './support/fake-host.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * This machine as the one host, as a run sees it: its own facts, except PID 1 (systemd, as on
 * real hosts) and kubestrap's record folder, both moved into a temp folder.
 */
function thisMachine(dir: string): RemoteHost {
  writeFileSync(join(dir, 'comm'), 'systemd\n');
  mkdirSync(join(dir, 'record'), { recursive: true });
  const move = (script: string) => script.replaceAll('/proc/1/comm', join(dir, 'comm')).replaceAll(HOST_RECORD_DIR, join(dir, 'record'));
  return {
    name: 'local',
    stats: { handshakes: 1, execs: 0, sftpOps: 0, streamedBytes: 0 },
    run: async (script) => shRun(move(script)),
    runWithInput: async (script, input) => shRunWithInput(move(script), input()),
    runToOutput: async (script, out) => shRunToOutput(move(script), out),
    putFile: async () => ({ written: true }),
    close: async () => undefined,
  };
}

describe('runPhases: a phase checks what leaves for a host', () => {
  const tmp = useTempDir();

  function setup() {
    const dir = tmp();
    const spec = clusterFrom(dir, '', 'cluster: here\nhosts:\n  - { name: here, address: 127.0.0.1, roles: [etcd, master, worker] }\n');
    const data = Buffer.alloc(50_000, 'tool ');
    const local = join(dir, 'tool');
    writeFileSync(local, data);
    const resource: LocalFileResource = {
      kind: 'localFile',
      path: join(dir, 'host', 'bin', 'tool'),
      mode: 0o755,
      owner: 'root',
      group: 'root',
      restarts: [],
      source: { sha256: sha(data), size: data.length, transfer: { codec: 'none', file: local, bytes: data.length } },
    };
    mkdirSync(join(dir, 'host', 'bin'), { recursive: true });
    const checked: Upload[][] = [];
    let refuse = false;
    const phase: Phase = {
      name: 'tools',
      title: 'tools',
      appliesTo: () => true,
      resources: () => [resource],
      beforeUpload: async (uploads) => {
        checked.push([...uploads]);
        if (refuse) throw new ArtifactError(local, `${local} is not what was checked`);
      },
    };
    const host = thisMachine(dir);
    const run = () => runEngine(spec, { connect: async () => host }, [phase], 'apply', { concurrency: 1 });
    return { run, resource, checked, data, refuseNext: () => (refuse = true) };
  }

  it('hands beforeUpload the uploads a host gets, and nothing on a run that sends nothing', async () => {
    const { run, resource, checked, data } = setup();
    const first = await run();
    expect(first.results.map((r) => r.status)).toEqual(['changed']);
    expect(checked.map((c) => c.map((u) => u.path))).toEqual([[resource.path]]);
    expect(readFileSync(resource.path).equals(data)).toBe(true);

    const again = await run();
    expect(again.results.map((r) => r.status)).toEqual(['ok']);
    expect(checked).toHaveLength(1);
  });

  it('fails the host when beforeUpload refuses, with nothing sent', async () => {
    const { run, resource, refuseNext } = setup();
    refuseNext();
    const report = await run();
    expect(report.results.map((r) => [r.status, r.error?.message])).toEqual([['failed', expect.stringContaining('is not what was checked')]]);
    expect(() => statSync(resource.path)).toThrow();
  });
});

// Runs on fake hosts (test/engine/support/fake-host.ts): the engine's real scripts, run with sh
// against a sandbox per host, with systemd, `ip` and readiness as fake tools. Each test checks what
// the hosts were sent and what became of them, not only what the report says.

const APP_CONF = '/etc/demo/app.conf';
const ETCD_CONF = '/etc/demo/etcd.conf';

function conf(path: string, content: string, restarts: string[] = []): FileResource {
  return { kind: 'file', path, content, mode: 0o644, ...LOCAL_OWNER, restarts };
}

function service(name: string, more: Partial<ServiceResource> = {}): ServiceResource {
  return { kind: 'service', name, enabled: true, running: true, ...more };
}

/** The fake tools' readiness check, given up on at its first failure. */
function ready(unit: string): ReadinessCheck {
  return { check: `fake-ready ${unit}`, description: 'answers', timeoutSec: 0 };
}

/** A phase with the same resources on every host. */
function phase(name: string, resources: Resource[], more: Partial<Phase> = {}): Phase {
  return { name, title: name, appliesTo: () => true, resources: () => resources, ...more };
}

/** A phase of cluster actions only, which applies to no host itself (as `verify` does). */
function actionsPhase(name: string, ...actions: ClusterAction[]): Phase {
  return { name, title: name, appliesTo: () => false, resources: () => [], clusterActions: () => actions };
}

/** A cluster action that leaves a mark on the host that ran it (and notes it in the events); its check looks for the mark. */
function marking(name: string, candidates: string[], when: ClusterAction['when'] = 'before'): ClusterAction {
  const mark = `/var/lib/demo/${name}`;
  return { name, description: `mark ${name}`, check: `test -e ${mark}`, run: `note ${name} && mkdir -p /var/lib/demo && : > ${mark}`, candidates, when };
}

function converge(cluster: FakeCluster, phases: Phase[], more: EngineRunOptions & { mode?: RunMode } = {}): Promise<RunReport> {
  const { mode = 'apply', ...opts } = more;
  return runEngine(cluster.spec, cluster, phases, mode, opts);
}

/** The host record of a host on which `p` already installed everything (as a model's files). */
function recorded(p: Phase): Record<string, string> {
  const record = withInstalled(p.name, p.resources({} as never), undefined).find((r): r is RecordResource => r.kind === 'record')!;
  return { [HOST_RECORD_FILE]: `${phaseRecordLine(p.name, record.ids, record.restarts, record.fields)}\n` };
}

/** Each phase's outcome per host, as `phase host`. */
function outcomes(report: RunReport): Record<string, HostStatus> {
  return Object.fromEntries(report.results.map((r) => [`${r.phase} ${r.host}`, r.status]));
}

function hostStatuses(report: RunReport): Record<string, HostStatus> {
  return Object.fromEntries(report.hosts.map((h) => [h.host, h.status]));
}

function resultOf(report: RunReport, phaseName: string, host: string): PhaseHostReport {
  const r = report.results.find((x) => x.phase === phaseName && x.host === host);
  if (!r) throw new Error(`no result for ${host} in ${phaseName}`);
  return r;
}

describe('runPhases on fake hosts: a host that fails fails alone', () => {
  const tmp = useTempDir();
  const phases = () => [phase('config', [conf(APP_CONF, 'v=1\n', ['app']), service('app')]), phase('extra', [conf('/etc/demo/extra.conf', 'x\n')])];

  it('a host whose change fails sits out the later phases; the others do every phase; the run fails', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: { broken: true } } }, n3: { units: { app: {} } } });
    const report = await converge(cluster, phases());

    expect(outcomes(report)).toEqual({ 'config n1': 'changed', 'config n2': 'failed', 'config n3': 'changed', 'extra n1': 'changed', 'extra n3': 'changed' });
    expect(hostStatuses(report)).toEqual({ n1: 'changed', n2: 'failed', n3: 'changed' });
    expect(runSucceeded(report)).toBe(false);
    const failure = resultOf(report, 'config', 'n2');
    expect(failure.error?.message).toBe('enable and start app: failed');
    expect(failure.error?.format()).toContain('app: exited (fake journal of n2)');
    // The failed host was sent nothing after its failing command.
    expect(cluster.host('n2').commands).toEqual(['facts', 'probe', 'put', 'apply']);
    expect(cluster.host('n2').read('/etc/demo/extra.conf')).toBeUndefined();
    expect(cluster.host('n3').read('/etc/demo/extra.conf')).toBe('x\n');
  });

  it('a host that does not answer is reported unreachable; the others are changed; the run fails', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { unreachable: true }, n3: { units: { app: {} } } });
    const report = await converge(cluster, phases());

    expect(hostStatuses(report)).toEqual({ n1: 'changed', n2: 'unreachable', n3: 'changed' });
    expect(report.hosts.find((h) => h.host === 'n2')?.error?.message).toContain('ECONNREFUSED');
    expect(report.results.filter((r) => r.host === 'n2')).toEqual([]);
    expect(runSucceeded(report)).toBe(false);
  });

  it('a host whose connection drops while it is read fails in the first phase, alone', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: {} }, dropsOn: 'probe' }, n3: { units: { app: {} } } });
    const report = await converge(cluster, phases());

    expect(outcomes(report)).toEqual({ 'config n1': 'changed', 'config n2': 'failed', 'config n3': 'changed', 'extra n1': 'changed', 'extra n3': 'changed' });
    expect(resultOf(report, 'config', 'n2').error?.message).toContain('connection lost');
    expect(cluster.host('n2').commands).toEqual(['facts', 'probe']);
    expect(cluster.host('n2').unit('app').active).toBe(false);
  });

  it('a run in which every host converged succeeds', async () => {
    const config = phases()[0]!;
    const n2Files = { [APP_CONF]: 'v=1\n', ...recorded(config) };
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: { enabled: true, active: true } }, files: n2Files } });
    const report = await converge(cluster, phases());

    expect(hostStatuses(report)).toEqual({ n1: 'changed', n2: 'changed' });
    expect(resultOf(report, 'config', 'n2').status).toBe('ok');
    expect(runSucceeded(report)).toBe(true);
  });

  it('times each stage on the wall clock: connect, then every phase in order, within the run', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: {} } } });
    const report = await converge(cluster, phases());

    expect(report.stages.map((s) => s.name)).toEqual(['connect', 'config', 'extra']);
    for (const s of report.stages) expect(s.durationMs).toBeGreaterThanOrEqual(0);
    expect(report.stages.reduce((n, s) => n + s.durationMs, 0)).toBeLessThanOrEqual(report.durationMs);
  });
});

describe('runPhases on fake hosts: rolling restarts', () => {
  const tmp = useTempDir();
  const etcd = phase('etcd', [conf(ETCD_CONF, 'v=2\n', ['etcd']), service('etcd', { rolling: true, ready: ready('etcd') })]);
  const running: HostModel = { files: { [ETCD_CONF]: 'v=1\n' }, units: { etcd: { enabled: true, active: true } } };
  // Inventory order is not alphabetical: the roll must follow the inventory.
  const members = (n1: HostModel = running) => ({ n3: running, n1, n2: running });

  it('restarts one host at a time in inventory order, each ready before the next restarts', async () => {
    const cluster = fakeCluster(tmp(), members());
    const report = await converge(cluster, [etcd]);

    expect(cluster.takeEvents()).toEqual(['n3 restart etcd', 'n3 ready etcd', 'n1 restart etcd', 'n1 ready etcd', 'n2 restart etcd', 'n2 ready etcd']);
    expect(outcomes(report)).toEqual({ 'etcd n3': 'changed', 'etcd n1': 'changed', 'etcd n2': 'changed' });
    expect(report.results.map((r) => r.restarts.map((x) => x.service))).toEqual([['etcd'], ['etcd'], ['etcd']]);
    for (const name of ['n3', 'n1', 'n2']) expect(cluster.host(name).read('/var/lib/kubestrap/pending-restarts')).toBeUndefined();
  });

  it.each([
    ['is not ready after its restart', { unready: true }, ['n3 restart etcd', 'n3 ready etcd', 'n1 restart etcd', 'n1 not-ready etcd'], 'etcd is not ready after 0 s (answers)'],
    ['fails to restart', { broken: true }, ['n3 restart etcd', 'n3 ready etcd', 'n1 restart etcd'], 'restart etcd: failed'],
  ] as const)('stops at the first host whose service %s: later hosts are not restarted and keep the restart owed', async (_, broken, events, message) => {
    const cluster = fakeCluster(tmp(), members({ ...running, units: { etcd: { enabled: true, active: true, ...broken } } }));
    const report = await converge(cluster, [etcd]);

    expect(cluster.takeEvents()).toEqual(events);
    expect(outcomes(report)).toEqual({ 'etcd n3': 'changed', 'etcd n1': 'failed', 'etcd n2': 'changed' });
    expect(hostStatuses(report)).toEqual({ n3: 'changed', n1: 'failed', n2: 'changed' });
    expect(runSucceeded(report)).toBe(false);
    expect(resultOf(report, 'etcd', 'n1').error?.message).toBe(message);
    expect(resultOf(report, 'etcd', 'n2').restarts).toEqual([]);
    // n2 got its new file: the restart it owes is recorded on it, for the next run.
    expect(cluster.host('n2').read(ETCD_CONF)).toBe('v=2\n');
    expect(cluster.host('n2').read('/var/lib/kubestrap/pending-restarts')).toBe('etcd\n');
  });

  it('the next run finishes a stopped roll: the hosts it did not reach restart, in order, and the others do not', async () => {
    const cluster = fakeCluster(tmp(), members({ ...running, units: { etcd: { enabled: true, active: true, unready: true } } }));
    await converge(cluster, [etcd]);
    cluster.takeEvents();
    cluster.host('n1').setUnit('etcd', { enabled: true, active: true });

    const report = await converge(cluster, [etcd]);
    expect(cluster.takeEvents()).toEqual(['n1 restart etcd', 'n1 ready etcd', 'n2 restart etcd', 'n2 ready etcd']);
    expect(outcomes(report)).toEqual({ 'etcd n3': 'ok', 'etcd n1': 'changed', 'etcd n2': 'changed' });
  });
});

describe('runPhases on fake hosts: cluster actions', () => {
  const tmp = useTempDir();
  // Candidates in an order other than the inventory's, so that following either is told apart.
  const three: Record<string, HostModel> = { n1: {}, n2: {}, n3: {} };

  it('runs nothing when its check passes', async () => {
    const cluster = fakeCluster(tmp(), { n1: { files: { '/var/lib/demo/seed': '' } }, n2: {} });
    const report = await converge(cluster, [actionsPhase('store', marking('seed', ['n1', 'n2']))]);

    // The check rode in n1's one probe; n2 had nothing to be read for.
    expect(cluster.host('n1').commands).toEqual(['facts', 'probe']);
    expect(cluster.host('n2').commands).toEqual(['facts']);
    expect(cluster.takeEvents()).toEqual([]);
    expect(hostStatuses(report)).toEqual({ n1: 'ok', n2: 'ok' });
  });

  it('runs once, on its first candidate, when its check fails', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const report = await converge(cluster, [actionsPhase('store', marking('seed', ['n2', 'n1']))]);

    expect(cluster.takeEvents()).toEqual(['n2 seed']);
    expect(cluster.host('n2').read('/var/lib/demo/seed')).toBe('');
    expect(resultOf(report, 'store', 'n2').changes.map((c) => c.summary)).toEqual(['once for the cluster: mark seed']);
    expect(hostStatuses(report)).toEqual({ n1: 'ok', n2: 'changed' });
  });

  it('goes to the next candidate when the first does not answer', async () => {
    const cluster = fakeCluster(tmp(), { ...three, n2: { unreachable: true } });
    await converge(cluster, [actionsPhase('store', marking('seed', ['n2', 'n1', 'n3']))]);

    expect(cluster.takeEvents()).toEqual(['n1 seed']);
  });

  it('goes to the next candidate when the first failed in an earlier phase', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: { broken: true } } }, n3: { units: { app: {} } } });
    await converge(cluster, [phase('app', [service('app')]), actionsPhase('store', marking('seed', ['n2', 'n1', 'n3']))]);

    expect(cluster.takeEvents().filter((e) => e.endsWith(' seed'))).toEqual(['n1 seed']);
  });

  it('goes to the next candidate when the first failed in its own phase, before an after action', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: { broken: true } } }, n3: { units: { app: {} } } });
    await converge(cluster, [phase('app', [service('app')], { clusterActions: () => [marking('seed', ['n2', 'n1', 'n3'], 'after')] })]);

    expect(cluster.takeEvents().filter((e) => e.endsWith(' seed'))).toEqual(['n1 seed']);
  });

  it('runs before actions before any host changes, and after actions once every host changed', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: { enabled: true } } }, n2: { units: { app: { enabled: true } } } });
    const actions = () => [marking('announce', ['n2'], 'after'), marking('prepare', ['n2'], 'before')];
    await converge(cluster, [phase('app', [service('app')], { clusterActions: actions })]);

    const events = cluster.takeEvents();
    expect(events[0]).toBe('n2 prepare');
    expect(events.at(-1)).toBe('n2 announce');
    expect(events.slice(1, -1).sort()).toEqual(['n1 start app', 'n2 start app']);
  });

  it('checks an action again once a host changed: a check the changes satisfied runs nothing', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const configured: ClusterAction = { name: 'configured', description: 'configure', check: `test -e ${APP_CONF}`, run: 'note configured', candidates: ['n1'], when: 'after' };
    await converge(cluster, [phase('config', [conf(APP_CONF, 'v=1\n')], { clusterActions: () => [configured] })]);

    expect(cluster.takeEvents()).toEqual([]);
    // The file, then the host record's entry for it, then the action's check read again.
    expect(cluster.host('n1').commands).toEqual(['facts', 'probe', 'put', 'apply', 'probe']);
  });
});

describe('runPhases on fake hosts: cluster checks the controller makes itself (query)', () => {
  const tmp = useTempDir();
  const queried = (answer: () => Promise<boolean>, asked: string[]): ClusterAction => ({
    name: 'queried',
    description: 'configure through an API',
    check: 'exit 1',
    query: async (_channel, host, live) => {
      asked.push(`${host.name} ${live.join(',')}`);
      return answer();
    },
    run: 'note queried',
    candidates: ['n2', 'n1'],
    when: 'after',
  });

  it('asks the query instead of probing: a no-op sends the chosen host its fact command alone, and nothing runs', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const asked: string[] = [];
    const report = await converge(cluster, [
      actionsPhase(
        'api',
        queried(async () => true, asked),
      ),
    ]);

    expect(runSucceeded(report)).toBe(true);
    expect(asked).toEqual(['n2 n1,n2']);
    expect(cluster.host('n2').commands).toEqual(['facts']);
    expect(cluster.takeEvents()).toEqual([]);
  });

  it('runs the action on the host when the query says it is needed, or cannot answer (a failed request)', async () => {
    for (const answer of [async () => false, () => Promise.reject(new Error('API server down'))]) {
      const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
      await converge(cluster, [actionsPhase('api', queried(answer, []))]);
      expect(cluster.takeEvents()).toEqual(['n2 queried']);
      expect(cluster.host('n2').commands).toEqual(['facts', 'apply']);
    }
  });

  it('plans the action without running it', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const report = await converge(
      cluster,
      [
        actionsPhase(
          'api',
          queried(async () => false, []),
        ),
      ],
      { mode: 'plan' },
    );

    expect(report.results.flatMap((r) => r.changes.map((c) => `${r.host} ${c.resourceId}`))).toEqual(['n2 command:cluster:queried']);
    expect(cluster.takeEvents()).toEqual([]);
  });
});

describe('runPhases on fake hosts: cluster changes the controller makes itself (apply)', () => {
  const tmp = useTempDir();
  const applied = (needed: boolean, done: string[], fails?: Error): ClusterAction => ({
    name: 'applied',
    description: 'create an object through an API',
    query: async () => !needed || done.length > 0,
    apply: async (_channel, host, live) => {
      if (fails) throw fails;
      done.push(`${host.name} ${live.join(',')}`);
    },
    candidates: ['n2', 'n1'],
    when: 'after',
    failureHint: 'look at the API server',
  });

  it('applies by the controller: nothing but the fact command runs on the chosen host, and a no-op does not apply', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const done: string[] = [];
    const report = await converge(cluster, [actionsPhase('api', applied(true, done))]);
    expect(runSucceeded(report)).toBe(true);
    expect(done).toEqual(['n2 n1,n2']);
    expect(cluster.host('n2').commands).toEqual(['facts']);
    expect(resultOf(report, 'api', 'n2').changes.map((c) => c.resourceId)).toEqual(['command:cluster:applied']);
    const again: string[] = [];
    await converge(cluster, [actionsPhase('api', applied(false, again))]);
    expect(again).toEqual([]);
  });

  it("fails the chosen host with the apply's error, the action's hint and its resource", async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const report = await converge(cluster, [actionsPhase('api', applied(true, [], new Error('answered 422: invalid')))]);
    expect(runSucceeded(report)).toBe(false);
    const error = resultOf(report, 'api', 'n2').error!;
    expect(error.format()).toMatch(/^n2 command:cluster:applied: .*answered 422: invalid\n {2}fix: look at the API server/);
    expect(cluster.host('n2').commands).toEqual(['facts']);
  });
});

describe('runPhases on fake hosts: facts the controller asks itself (query)', () => {
  const tmp = useTempDir();

  it('reads a query fact alongside the fact command (nothing more runs on the host), and a failed request as no answer', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {} });
    const answer = defineQueryFact<string | undefined, TargetHost, unknown>(
      'answer',
      (host) => async () => {
        if (host.name === 'n2') throw new Error('API server down');
        return `asked for ${host.name}`;
      },
      (out) => out,
    );
    const seen: string[] = [];
    const reader: Phase = {
      ...actionsPhase('reader'),
      facts: [answer],
      preflight: (ctx) => {
        for (const h of ctx.hosts) seen.push(`${h.host.name}: ${readFact(h.facts, answer) ?? 'no answer'}`);
        return [];
      },
    };
    await converge(cluster, [reader]);
    expect(seen).toEqual(['n1: asked for n1', 'n2: no answer']);
    expect(cluster.host('n1').commands).toEqual(['facts']);
  });
});

describe('runPhases on fake hosts: --limit', () => {
  const tmp = useTempDir();

  it('changes only the limited hosts; the others are only read, and still run cluster actions', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {}, n3: {} });
    const report = await converge(cluster, [phase('config', [conf(APP_CONF, 'v=1\n')], { clusterActions: () => [marking('seed', ['n1', 'n2'])] })], { limit: ['n3'] });

    expect(['n1', 'n2', 'n3'].map((n) => cluster.host(n).read(APP_CONF))).toEqual([undefined, undefined, 'v=1\n']);
    expect(cluster.takeEvents()).toEqual(['n1 seed']);
    expect(cluster.host('n1').commands).toEqual(['facts', 'probe', 'apply']);
    expect(cluster.host('n2').commands).toEqual(['facts']);
    expect(hostStatuses(report)).toEqual({ n1: 'changed', n2: 'ok', n3: 'changed' });
  });

  it('does not contact the hosts no phase says it needs (limitReads): they are skipped', async () => {
    const cluster = fakeCluster(tmp(), { n1: {}, n2: {}, n3: {}, n4: {} });
    const needsN1 = phase('config', [conf(APP_CONF, 'v=1\n')], { clusterActions: () => [marking('seed', ['n1', 'n2'])], limitReads: (_limited, hosts) => hosts.filter((h) => h.name === 'n1') });
    const readsNone = phase('other', [conf('/etc/demo/other.conf', 'x\n')], { limitReads: () => [] });
    const report = await converge(cluster, [needsN1, readsNone], { limit: ['n3'] });

    expect(cluster.takeEvents()).toEqual(['n1 seed']);
    expect(['n2', 'n4'].map((n) => cluster.host(n).commands)).toEqual([[], []]);
    expect(hostStatuses(report)).toEqual({ n1: 'changed', n2: 'skipped', n3: 'changed', n4: 'skipped' });
    expect(runSucceeded(report)).toBe(true);
  });
});

describe('runPhases on fake hosts: probes', () => {
  const tmp = useTempDir();

  it('reads again, before a later phase, only the hosts an earlier phase changed', async () => {
    const config = phase('config', [conf(APP_CONF, 'v=1\n')]);
    const cluster = fakeCluster(tmp(), { n1: {}, n2: { files: { [APP_CONF]: 'v=1\n', ...recorded(config) } } });
    // The later phase's check passes only once the earlier phase wrote the file: an answer from the first probe would run it.
    const needsConf: CommandResource = { kind: 'command', name: 'needs-conf', description: 'needs the config', check: `test -e ${APP_CONF}`, run: 'note needless' };
    const report = await converge(cluster, [config, phase('use', [needsConf])]);

    expect(cluster.host('n1').commands).toEqual(['facts', 'probe', 'put', 'apply', 'probe']);
    expect(cluster.host('n2').commands).toEqual(['facts', 'probe']);
    expect(cluster.takeEvents()).toEqual([]);
    expect(outcomes(report)).toEqual({ 'config n1': 'changed', 'config n2': 'ok', 'use n1': 'ok', 'use n2': 'ok' });
  });

  it('sends each host two commands when nothing needs changing, cluster checks included', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: {} } } });
    const phases = [phase('config', [conf(APP_CONF, 'v=1\n'), service('app')]), actionsPhase('store', marking('seed', ['n1']))];
    await converge(cluster, phases);
    const before = ['n1', 'n2'].map((n) => cluster.host(n).commands.length);

    const report = await converge(cluster, phases);
    expect(['n1', 'n2'].map((n, i) => cluster.host(n).commands.slice(before[i]))).toEqual([
      ['facts', 'probe'],
      ['facts', 'probe'],
    ]);
    expect(hostStatuses(report)).toEqual({ n1: 'ok', n2: 'ok' });
    expect(runSucceeded(report)).toBe(true);
  });
});

describe('runPhases on fake hosts: a phase with nothing for a host', () => {
  const tmp = useTempDir();

  // A phase that applies to a host and gives it nothing (a template tree with none of its files, a
  // custom phase): the host has nothing to be read, and is as the phase wants it.
  it('leaves the host ok', async () => {
    const cluster = fakeCluster(tmp(), { n1: {} });
    const report = await converge(cluster, [phase('empty', [])]);

    expect(hostStatuses(report)).toEqual({ n1: 'ok' });
  });
});

describe('runPhases on fake hosts: plan', () => {
  const tmp = useTempDir();

  it('changes nothing, and reports what apply then does', async () => {
    const phases = [phase('config', [conf(APP_CONF, 'v=2\n', ['app']), service('app')], { clusterActions: () => [marking('seed', ['n1'])] })];
    const cluster = fakeCluster(tmp(), { n1: { files: { [APP_CONF]: 'v=1\n', ...recorded(phases[0]!) }, units: { app: { enabled: true, active: true } } }, n2: { units: { app: {} } } });
    const plan = await converge(cluster, phases, { mode: 'plan' });

    for (const name of ['n1', 'n2']) expect(cluster.host(name).commands.filter((c) => c === 'apply' || c === 'put')).toEqual([]);
    expect(cluster.takeEvents()).toEqual([]);
    expect(cluster.host('n1').read(APP_CONF)).toBe('v=1\n');
    expect(plan.mode).toBe('plan');
    expect(hostStatuses(plan)).toEqual({ n1: 'changed', n2: 'changed' });
    const n1 = resultOf(plan, 'config', 'n1');
    expect(n1.changes.map((c) => c.summary)).toEqual(['once for the cluster: mark seed', `update ${APP_CONF}`]);
    expect(n1.restarts.map((r) => r.service)).toEqual(['app']);
    expect(n1.currentContent.get(APP_CONF)).toBe('v=1\n');
    expect(resultOf(plan, 'config', 'n2').changes.map((c) => c.summary)).toEqual([
      `create ${APP_CONF} (0644 ${LOCAL_OWNER.owner}:${LOCAL_OWNER.group}, 4 bytes)`,
      'enable and start app',
      'record what the config phase installed (2 items)',
    ]);

    const applied = await converge(cluster, phases);
    const summaries = (r: RunReport) => r.results.map((x) => [x.host, x.changes.map((c) => c.summary), x.restarts.map((s) => s.service)]);
    expect(summaries(applied)).toEqual(summaries(plan));
    expect(cluster.takeEvents().sort()).toEqual(['n1 restart app', 'n1 seed', 'n2 enable app', 'n2 start app']);
  });
});
