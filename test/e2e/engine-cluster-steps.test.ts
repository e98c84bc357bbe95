import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterSpec, type ClusterSpec } from '../../src/config/cluster-spec.js';
import { defineFact, readFact } from '../../src/engine/facts.js';
import { HostError } from '../../src/errors.js';
import type { Resource, ServiceResource } from '../../src/engine/resource.js';
import type { RunMode } from '../../src/engine/runner.js';
import { runEngine, type TestPhase as Phase } from '../support/engine-run.js';
import { SshPool } from '../../src/ssh/pool.js';
import { writeInventory } from '../lab/index.js';
import { labAvailable, useLabHosts } from './support/hosts.js';

/**
 * The engine's cluster steps on three real hosts, with phases of the test's own: a service that
 * takes two seconds to become ready after each start (like an API server), restarted one host at
 * a time; a restart owed by one phase and done by the phase that manages the service; cluster
 * actions; preflight; the phases' own facts.
 */
const READY_DELAY_S = 2;

/** ks-slow: becomes ready READY_DELAY_S after each start; logs when it started and when it became ready. */
const slowUnit = `[Unit]
Description=kubestrap e2e slow-to-be-ready service
[Service]
EnvironmentFile=/etc/ks-slow.conf
ExecStartPre=/bin/sh -c 'rm -f /run/ks-slow.ready; echo "start $(date +%%s%%N)" >> /var/log/ks-slow.log'
ExecStart=/bin/sh -c 'sleep ${READY_DELAY_S}; echo "ready $(date +%%s%%N)" >> /var/log/ks-slow.log; touch /run/ks-slow.ready; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`;

/** ks-slow's setting on a host, read with the facts. */
const SLOW_SETTING = defineFact('slow-setting', 'cat /etc/ks-slow.conf', (out) => out?.trim());

const file = (path: string, content: string, restarts: string[] = []): Resource => ({ kind: 'file', path, content, mode: 0o644, owner: 'root', group: 'root', restarts });

function slowService(over: Partial<ServiceResource> = {}): ServiceResource {
  return {
    kind: 'service',
    name: 'ks-slow',
    enabled: true,
    running: true,
    rolling: true,
    ready: { check: 'test -e /run/ks-slow.ready', description: 'has written /run/ks-slow.ready', timeoutSec: 30 },
    ...over,
  };
}

/** Installs ks-slow (its unit, and its config when `setting` is given). */
function servicePhase(setting: string | undefined, service: ServiceResource = slowService()): Phase {
  return {
    name: 'services',
    title: 'e2e slow service',
    appliesTo: () => true,
    resources: () => [file('/etc/systemd/system/ks-slow.service', slowUnit), ...(setting === undefined ? [] : [file('/etc/ks-slow.conf', `SETTING=${setting}\n`, ['ks-slow'])]), service],
  };
}

/** Writes ks-slow's config without managing the service: the restart is owed to a later phase. */
function configPhase(setting: string): Phase {
  return { name: 'config', title: 'e2e config', appliesTo: () => true, resources: () => [file('/etc/ks-slow.conf', `SETTING=${setting}\n`, ['ks-slow'])] };
}

interface Event {
  host: string;
  what: 'start' | 'ready';
  at: bigint;
}

describe.skipIf(!labAvailable())('engine: cluster steps on three real hosts', () => {
  const hosts = useLabHosts(3, { firewalld: false, prefix: 'steps' });
  let spec: ClusterSpec;
  let pool: SshPool;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubestrap-e2e-steps-'));
    await writeInventory({ ...hosts.lab, hosts: hosts.all() }, join(dir, 'inventory.yaml'));
    spec = loadClusterSpec({ inventoryFile: join(dir, 'inventory.yaml'), configFile: 'config.example.properties' });
    pool = new SshPool({ knownHostsFile: spec.knownHostsFile, acceptNewHostKeys: false });
  });
  afterAll(() => pool?.closeAll());

  const run = (mode: RunMode, phases: Phase[], limit?: string[]) => runEngine(spec, pool, phases, mode, limit ? { limit } : {});
  const names = () => hosts.all().map((h) => h.name);

  async function events(since = 0n): Promise<Event[]> {
    const all: Event[] = [];
    for (const [i, h] of hosts.all().entries()) {
      const log = (await hosts.exec(i, 'cat /var/log/ks-slow.log')).stdout;
      for (const line of log.split('\n').filter(Boolean)) {
        const [what, at] = line.split(' ');
        if (BigInt(at!) > since) all.push({ host: h.name, what: what as Event['what'], at: BigInt(at!) });
      }
    }
    return all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }
  const now = async () => BigInt((await hosts.run(0, 'date +%s%N')).trim());

  it('starts a new service on every host together, each waited on until ready', async () => {
    const report = await run('apply', [servicePhase('1')]);
    expect(report.results.map((r) => [r.host, r.status, r.error?.format()])).toEqual(names().map((n) => [n, 'changed', undefined]));
    for (let i = 0; i < 3; i++) expect((await hosts.run(i, 'test -e /run/ks-slow.ready && echo ready')).trim()).toBe('ready');
    // Together: every host started before any became ready.
    const seen = await events();
    const firstReady = seen.findIndex((e) => e.what === 'ready');
    expect(
      seen
        .slice(0, firstReady)
        .map((e) => e.host)
        .sort(),
    ).toEqual([...names()].sort());
  });

  it('restarts a rolling service one host at a time, each ready before the next starts', async () => {
    const since = await now();
    const plan = await run('plan', [servicePhase('2')]);
    expect(plan.results.map((r) => r.restarts.map((x) => [x.service, x.rolling]))).toEqual(names().map(() => [['ks-slow', true]]));

    const report = await run('apply', [servicePhase('2')]);
    expect(report.results.map((r) => [r.host, r.status, r.restarts.map((x) => x.service)])).toEqual(names().map((n) => [n, 'changed', ['ks-slow']]));
    const seen = (await events(since)).map((e) => `${e.what} ${e.host}`);
    expect(seen).toEqual(names().flatMap((n) => [`start ${n}`, `ready ${n}`]));
  });

  it('stops the roll at the first host that does not become ready, with its journal', async () => {
    const since = await now();
    const never = slowService({ ready: { check: 'false', description: 'never', timeoutSec: READY_DELAY_S + 1 } });
    const report = await run('apply', [servicePhase('3', never)]);
    const [first, ...rest] = report.results;
    expect(first!.status).toBe('failed');
    expect(first!.error).toBeInstanceOf(HostError);
    expect(first!.error!.message).toBe(`ks-slow is not ready after ${READY_DELAY_S + 1} s (never)`);
    expect(first!.error!.format()).toMatch(/journal:/);
    // The others wrote their config but were not restarted: their restart is still owed.
    expect(rest.map((r) => [r.status, r.restarts])).toEqual([
      ['changed', []],
      ['changed', []],
    ]);
    expect((await events(since)).map((e) => e.host)).toEqual([names()[0], names()[0]]);
    expect((await hosts.run(1, 'cat /var/lib/kubestrap/pending-restarts')).trim()).toBe('ks-slow');

    // The next run owes and does the rest.
    const again = await run('apply', [servicePhase('3')]);
    expect(again.results.map((r) => r.restarts.map((x) => x.service))).toEqual([['ks-slow'], ['ks-slow'], ['ks-slow']]);
    expect((await hosts.exec(1, 'test -e /var/lib/kubestrap/pending-restarts')).code).not.toBe(0);
  });

  it('leaves a restart to the later phase that manages the service, which rolls it', async () => {
    const since = await now();
    const plan = await run('plan', [configPhase('4'), servicePhase(undefined)]);
    expect(plan.results.filter((r) => r.phase === 'config').map((r) => r.restarts.map((x) => x.deferredTo))).toEqual([['services'], ['services'], ['services']]);

    const report = await run('apply', [configPhase('4'), servicePhase(undefined)]);
    expect(report.results.filter((r) => r.phase === 'config').map((r) => r.restarts)).toEqual([[], [], []]);
    expect(report.results.filter((r) => r.phase === 'services').map((r) => r.restarts.map((x) => x.service))).toEqual([['ks-slow'], ['ks-slow'], ['ks-slow']]);
    expect((await events(since)).map((e) => `${e.what} ${e.host}`)).toEqual(names().flatMap((n) => [`start ${n}`, `ready ${n}`]));
    const noop = await run('apply', [configPhase('4'), servicePhase(undefined)]);
    expect(noop.results.every((r) => r.status === 'ok')).toBe(true);
  });

  it('runs a cluster action once, on the first candidate, only while its check fails', async () => {
    const marker = '/var/lib/ks-action-ran';
    const actionPhase: Phase = {
      name: 'actions',
      title: 'e2e actions',
      appliesTo: () => false,
      resources: () => [],
      clusterActions: (ctx) => [
        { name: 'mark', description: 'write the marker', check: `test -e ${marker}`, run: `hostname > ${marker}`, candidates: ctx.hosts.map((h) => h.host.name).reverse(), when: 'after' },
      ],
    };
    const plan = await run('plan', [actionPhase]);
    expect(plan.results.map((r) => [r.host, r.changes.map((c) => c.summary)])).toEqual([[names()[2], ['once for the cluster: write the marker']]]);
    const report = await run('apply', [actionPhase]);
    expect(report.results.map((r) => [r.host, r.status])).toEqual([[names()[2], 'changed']]);
    expect((await hosts.run(2, `cat ${marker}`)).trim()).toBe(names()[2]);
    expect((await hosts.exec(0, `test -e ${marker}`)).code).not.toBe(0);
    const noop = await run('apply', [actionPhase]);
    expect(noop.results.map((r) => [r.host, r.status, r.changes])).toEqual([[names()[2], 'ok', []]]);
    // The check rode along in the chosen host's probe: two commands there, one (facts) where nothing is probed.
    expect(noop.hosts.map((h, i) => h.stats!.execs - report.hosts[i]!.stats!.execs)).toEqual([1, 1, 2]);
  });

  it("refuses before any change when a preflight finds a problem, using the phases' own facts", async () => {
    const guarded: Phase = {
      ...servicePhase('5'),
      facts: [SLOW_SETTING],
      preflight: (ctx) =>
        ctx.hosts.filter((h) => readFact(h.facts, SLOW_SETTING) !== 'SETTING=5').map((h) => new HostError(h.host.name, `has ${readFact(h.facts, SLOW_SETTING)}`, {}, 'agree to 5 first')),
    };
    const report = await run('apply', [guarded]);
    expect(report.refused.map((e) => e.format())).toEqual(names().map((n) => `${n}: has SETTING=4\n  fix: agree to 5 first`));
    expect(report.results).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await hosts.run(i, 'cat /etc/ks-slow.conf')).trim()).toBe('SETTING=4');
  });

  it('changes only the hosts of --limit, reading the others without probing them', async () => {
    const before = (await run('plan', [])).hosts.map((h) => h.stats!.execs);
    const report = await run('apply', [servicePhase('6')], [names()[1]!]);
    expect(report.results.map((r) => [r.host, r.status])).toEqual([[names()[1], 'changed']]);
    expect((await hosts.run(1, 'cat /etc/ks-slow.conf')).trim()).toBe('SETTING=6');
    for (const i of [0, 2]) expect((await hosts.run(i, 'cat /etc/ks-slow.conf')).trim()).toBe('SETTING=4');
    // The others: their facts only (one command), no probe.
    const execs = report.hosts.map((h, i) => h.stats!.execs - before[i]!);
    expect([execs[0], execs[2]]).toEqual([1, 1]);
  });
});
