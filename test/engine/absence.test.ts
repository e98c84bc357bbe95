import { describe, expect, it } from 'vitest';
import type { RunMode } from '../../src/engine/runner.js';
import type { DirectoryResource, FileResource, Resource, ServiceResource } from '../../src/engine/resource.js';
import type { RunReport } from '../../src/engine/report.js';
import { runEngine, type TestPhase } from '../support/engine-run.js';
import { useTempDir } from '../support/tmp.js';
import { fakeCluster, type FakeCluster } from './support/fake-cluster.js';
import { LOCAL_OWNER } from './support/fake-host.js';

/**
 * Absence as desired state, on fake hosts (the engine's real scripts run against a sandbox per
 * host): what a phase installed and no longer wants, found through the host record, is removed by
 * the next apply, shown by plan first; a second apply is a no-op.
 */
const UNIT = '/etc/systemd/system/app.service';
const CONF = '/etc/demo/app.conf';
const DROP_IN = '/etc/demo/app.d/extra.conf';
const DATA = '/var/lib/demo';

const file = (path: string, content: string, restarts: string[] = []): FileResource => ({ kind: 'file', path, content, mode: 0o644, ...LOCAL_OWNER, restarts });
const dir = (path: string): DirectoryResource => ({ kind: 'directory', path, mode: 0o755, ...LOCAL_OWNER });
const app: ServiceResource = { kind: 'service', name: 'app', enabled: true, running: true };

/** A phase that installs `resources` on the hosts that `on` accepts. */
function appPhase(resources: Resource[], on: (host: string) => boolean = () => true): TestPhase {
  return { name: 'app', title: 'app', appliesTo: (h) => on(h.name), resources: () => resources };
}

function run(cluster: FakeCluster, phases: TestPhase[], mode: RunMode = 'apply'): Promise<RunReport> {
  return runEngine(cluster.spec, cluster, phases, mode);
}

const summaries = (report: RunReport, host: string) => report.results.filter((r) => r.host === host).flatMap((r) => r.changes.map((c) => c.summary));

describe('absence: what a phase no longer wants is removed', () => {
  const tmp = useTempDir();

  it('a file the phase stopped rendering is shown by plan, removed by apply, and a second apply changes nothing', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } } });
    await run(cluster, [appPhase([file(UNIT, '[Service]\n'), file(CONF, 'v=1\n', ['app']), file(DROP_IN, 'x=1\n', ['app']), app])]);
    expect(cluster.host('n1').read(DROP_IN)).toBe('x=1\n');
    cluster.takeEvents();

    const smaller = [appPhase([file(UNIT, '[Service]\n'), file(CONF, 'v=1\n', ['app']), app])];
    const plan = await run(cluster, smaller, 'plan');
    expect(summaries(plan, 'n1')).toEqual([`remove ${DROP_IN}`, 'record what the app phase installed (3 items)']);
    expect(plan.results[0]!.restarts.map((r) => r.service)).toEqual(['app']);
    expect(cluster.host('n1').read(DROP_IN)).toBe('x=1\n');

    const applied = await run(cluster, smaller);
    expect(summaries(applied, 'n1')).toEqual(summaries(plan, 'n1'));
    expect(cluster.host('n1').read(DROP_IN)).toBeUndefined();
    // The service read the removed drop-in: it restarts, once.
    expect(cluster.takeEvents()).toEqual(['n1 restart app']);

    const again = await run(cluster, smaller);
    expect(summaries(again, 'n1')).toEqual([]);
    expect(cluster.host('n1').commands.slice(-2)).toEqual(['facts', 'probe']);
  });

  it('a host the phase no longer applies to (a role it lost) gets its service stopped and disabled, its files and empty folders removed', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: {} } } });
    const installs = [file(UNIT, '[Service]\n'), file(CONF, 'v=1\n', ['app']), dir(DATA), dir('/var/lib/demo-empty'), app];
    await run(cluster, [appPhase(installs)]);
    cluster.host('n2').place(`${DATA}/state`, 'data that must stay\n');
    cluster.takeEvents();

    const onlyN1 = [appPhase(installs, (h) => h === 'n1')];
    const plan = await run(cluster, onlyN1, 'plan');
    expect(summaries(plan, 'n1')).toEqual([]);
    expect(summaries(plan, 'n2')).toEqual([
      'stop and disable app',
      `remove ${CONF}`,
      `remove ${UNIT}`,
      'remove empty directory /var/lib/demo-empty',
      'forget what the app phase installed (nothing left)',
    ]);

    const applied = await run(cluster, onlyN1);
    expect(summaries(applied, 'n2')).toEqual(summaries(plan, 'n2'));
    expect(cluster.host('n2').unit('app')).toMatchObject({ active: false, enabled: false });
    expect([UNIT, CONF].map((p) => cluster.host('n2').read(p))).toEqual([undefined, undefined]);
    expect(cluster.host('n2').exists('/var/lib/demo-empty')).toBe(false);
    // A folder that holds data is kept: deleting data takes a reset that asks for it.
    expect(cluster.host('n2').read(`${DATA}/state`)).toBe('data that must stay\n');
    expect(cluster.takeEvents()).toEqual(['n2 disable app', 'n2 stop app', 'n2 daemon-reload']);
    expect(cluster.host('n1').unit('app')).toMatchObject({ active: true, enabled: true });

    const again = await run(cluster, onlyN1);
    expect([summaries(again, 'n1'), summaries(again, 'n2')]).toEqual([[], []]);
  });

  it('removes a folder whose only files the same run removes', async () => {
    const cluster = fakeCluster(tmp(), { n1: {} });
    await run(cluster, [appPhase([dir('/etc/demo/app.d'), file(DROP_IN, 'x=1\n')])]);
    const applied = await run(cluster, [appPhase([])]);
    expect(summaries(applied, 'n1')).toEqual([`remove ${DROP_IN}`, 'remove empty directory /etc/demo/app.d', 'forget what the app phase installed (nothing left)']);
    expect(cluster.host('n1').exists('/etc/demo/app.d')).toBe(false);
    expect(summaries(await run(cluster, [appPhase([])]), 'n1')).toEqual([]);
  });

  it('removes a folder one phase made once the phases before it in the run removed what they put in it, and keeps a folder that holds anything else', async () => {
    const cluster = fakeCluster(tmp(), { n1: {} });
    const layout: TestPhase = { name: 'layout', title: 'layout', appliesTo: () => true, resources: () => [dir('/etc/demo'), dir('/etc/demo/sub'), dir('/etc/keep')] };
    const fill: TestPhase = { name: 'fill', title: 'fill', appliesTo: () => true, resources: () => [file(CONF, 'v=1\n'), file('/etc/demo/sub/a.conf', 'a\n'), file('/etc/keep/b.conf', 'b\n')] };
    await run(cluster, [layout, fill]);
    cluster.host('n1').place('/etc/keep/theirs.conf', 'not ours\n');
    // A teardown: the filling phase's removals run first, the folders' phase last, all probed before any change.
    const gone = (name: string): TestPhase => ({ name, title: name, appliesTo: () => false, resources: () => [] });
    const applied = await run(cluster, [gone('fill'), gone('layout')]);
    expect(summaries(applied, 'n1')).toEqual([
      `remove ${CONF}`,
      'remove /etc/demo/sub/a.conf',
      'remove /etc/keep/b.conf',
      'forget what the fill phase installed (nothing left)',
      'remove empty directory /etc/demo/sub',
      'remove empty directory /etc/demo',
      'forget what the layout phase installed (nothing left)',
    ]);
    expect([cluster.host('n1').exists('/etc/demo'), cluster.host('n1').read('/etc/keep/theirs.conf')]).toEqual([false, 'not ours\n']);
  });

  it('keeps a file that moved to another phase of the run, which now records it', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } } });
    const config: TestPhase = { name: 'config', title: 'config', appliesTo: () => true, resources: () => [file(CONF, 'v=1\n', ['app'])] };
    await run(cluster, [appPhase([file(CONF, 'v=1\n', ['app']), app])]);
    const moved = await run(cluster, [config, appPhase([app])]);
    expect(summaries(moved, 'n1')).toEqual(['record what the config phase installed (1 item)', 'record what the app phase installed (1 item)']);
    expect(cluster.host('n1').read(CONF)).toBe('v=1\n');
    expect(summaries(await run(cluster, [config, appPhase([app])]), 'n1')).toEqual([]);
  });

  it('forgets nothing on a run of other phases or other hosts (--phase, --limit)', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: {} } } });
    await run(cluster, [appPhase([file(CONF, 'v=1\n'), app])]);
    const other: TestPhase = { name: 'other', title: 'other', appliesTo: () => true, resources: () => [file('/etc/demo/other.conf', 'o\n')] };
    await run(cluster, [other]);
    const limited = await runEngine(cluster.spec, cluster, [appPhase([file(CONF, 'v=1\n'), app], (h) => h === 'n1')], 'plan', { limit: ['n1'] });
    expect(summaries(limited, 'n2')).toEqual([]);
    expect(cluster.host('n2').read(CONF)).toBe('v=1\n');
  });
  it('leaves a host the phase ignores as it is, records included, and keeps it out of its cluster actions', async () => {
    const cluster = fakeCluster(tmp(), { n1: { units: { app: {} } }, n2: { units: { app: {} } } });
    await run(cluster, [appPhase([file(CONF, 'v=1\n'), app])]);
    // n2 is leaving: the phase no longer applies there, yet what it installed is another phase's to take apart.
    const ignoring: TestPhase = {
      ...appPhase([file(CONF, 'v=1\n'), app], (h) => h === 'n1'),
      ignores: (h) => h.name === 'n2',
      preflight: (ctx) => {
        expect(ctx.hosts.map((h) => h.host.name)).toEqual(['n1']);
        return [];
      },
    };
    const plan = await run(cluster, [ignoring], 'plan');
    expect(summaries(plan, 'n2')).toEqual([]);
    const applied = await run(cluster, [ignoring]);
    expect(summaries(applied, 'n2')).toEqual([]);
    expect(cluster.host('n2').read(CONF)).toBe('v=1\n');
  });
});
