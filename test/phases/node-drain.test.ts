import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostSpec } from '../../src/config/cluster-spec.js';
import { parseFacts } from '../../src/engine/facts.js';
import { parsePhaseRecords, phaseRecordLine } from '../../src/engine/host-record.js';
import type { ClusterContext } from '../../src/phases/context.js';
import { DRAIN_TIMEOUT_SEC, leftCordonedAction, nodeBatches } from '../../src/phases/node-drain.js';
import { shRun } from '../engine/support.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

const INVENTORY = `cluster: up
hosts:
  - { name: m1, address: 10.0.0.11, roles: [etcd, master] }
  - { name: w1, address: 10.0.0.12, roles: [worker] }
`;

/**
 * The drain and uncordon scripts against a kubectl that answers as a cluster in a given state
 * would (the node registered or not, cordoned or not, Ready or not, marked or not) and logs every
 * call that changes something.
 */
interface NodeState {
  registered?: boolean;
  unschedulable?: boolean;
  ready?: boolean;
  marked?: boolean;
  /** `get nodes` over every node: `name=<mark>=<Ready>` lines. */
  nodes?: string;
}

const FAKE_KUBECTL = `#!/bin/sh
state() { cat "$KS_STATE/$1" 2>/dev/null; }
shift 2 # --kubeconfig, --request-timeout
case "$1 $2" in
  'get node') [ "$(state registered)" = yes ] || { echo 'Error from server (NotFound)' >&2; exit 1; }
    case "$*" in
      *unschedulable*) state unschedulable ;;
      *Ready*) state ready ;;
      *drained*) state marked ;;
    esac ;;
  'get nodes') state nodes ;;
  *) echo "$*" >> "$KS_STATE/calls" ;;
esac
`;

describe('draining a node around its restarts', () => {
  const tmp = useTempDir();
  let setups = 0;

  function setup(state: NodeState) {
    // A folder per cluster state: a test may set up more than one.
    const dir = join(tmp(), `state-${++setups}`);
    mkdirSync(dir);
    const bin = join(dir, 'bin');
    const stateDir = join(dir, 'state');
    mkdirSync(bin);
    mkdirSync(stateDir);
    writeFileSync(join(bin, 'kubectl'), FAKE_KUBECTL);
    chmodSync(join(bin, 'kubectl'), 0o755);
    const put = (name: string, value: string | undefined) => value !== undefined && writeFileSync(join(stateDir, name), value);
    put('registered', state.registered === false ? 'no' : 'yes');
    put('unschedulable', state.unschedulable ? 'true' : '');
    put('ready', state.ready === false ? 'False' : 'True');
    put('marked', state.marked ? 'true' : '');
    put('nodes', state.nodes ?? '');
    const spec = clusterFrom(dir, `BIN_PATH=${bin}\n`, INVENTORY);
    const ctx = { spec, mode: 'apply', hosts: spec.hosts.map((host) => ({ host, facts: undefined as never, os: undefined as never, files: [] })) } as ClusterContext;
    const [m1, w1] = spec.hosts as [HostSpec, HostSpec];
    const run = (script: string) => ({
      ...shRun(script, { ...process.env, KS_STATE: stateDir }),
      calls: (() => {
        try {
          return readFileSync(join(stateDir, 'calls'), 'utf8').trim().split('\n').filter(Boolean);
        } catch {
          return [];
        }
      })(),
    });
    return { batches: nodeBatches(ctx, 2), action: leftCordonedAction(ctx), m1, w1, run };
  }

  it('runs on the masters, as many nodes at once as asked', () => {
    const { batches } = setup({});
    expect([batches.size, batches.candidates]).toEqual([2, ['m1']]);
  });

  it('drains only nodes an earlier run made and that keep the worker role', () => {
    const { batches, m1, w1 } = setup({});
    const made = { ...parseFacts(''), record: parsePhaseRecords(phaseRecordLine('workers', [], {}, {})) };
    expect(batches.serving(w1, made)).toBe(true);
    expect(batches.serving(w1, parseFacts(''))).toBe(false);
    expect(batches.serving(m1, made)).toBe(false);
  });

  it("marks a schedulable node as kubestrap's, then drains it through evictions with a time limit", () => {
    const { batches, m1, w1, run } = setup({});
    const out = run(batches.before.script!(w1, m1));
    expect(out.code).toBe(0);
    expect(out.calls).toEqual(['annotate node w1 kubestrap.io/drained=true --overwrite', `drain w1 --ignore-daemonsets --delete-emptydir-data --timeout=${DRAIN_TIMEOUT_SEC}s`]);
  });

  it('drains a node an operator cordoned without marking it, so it stays cordoned after', () => {
    const { batches, m1, w1, run } = setup({ unschedulable: true });
    expect(run(batches.before.script!(w1, m1)).calls).toEqual([`drain w1 --ignore-daemonsets --delete-emptydir-data --timeout=${DRAIN_TIMEOUT_SEC}s`]);
    const { calls } = run(batches.after.script!(w1, m1));
    expect(calls.filter((c) => !c.startsWith('drain'))).toEqual([]);
  });

  it('has nothing to drain on a node not registered yet', () => {
    const { batches, m1, w1, run } = setup({ registered: false });
    const out = run(batches.before.script!(w1, m1));
    expect([out.code, out.calls]).toEqual([0, []]);
  });

  it('uncordons a node it marked once Ready, and removes the mark', () => {
    const { batches, m1, w1, run } = setup({ marked: true });
    const out = run(batches.after.script!(w1, m1));
    expect(out.code).toBe(0);
    expect(out.calls).toEqual(['uncordon w1', 'annotate node w1 kubestrap.io/drained-']);
  });

  it('uncordons, after a stopped run, the Ready nodes still marked, and only those; nothing to do without', () => {
    const { action, m1, run } = setup({ nodes: 'w1=true=True\nw2=true=False\nw3==True\n' });
    const check = typeof action.check === 'string' ? action.check : action.check!(m1, []);
    const script = typeof action.run === 'string' ? action.run : action.run!(m1, []);
    expect(run(check).code).not.toBe(0);
    expect(run(script).calls).toEqual(['uncordon w1', 'annotate node w1 kubestrap.io/drained-']);
    const none = setup({ nodes: 'w1==True\n' });
    const noneCheck = typeof none.action.check === 'string' ? none.action.check : none.action.check!(none.m1, []);
    expect(none.run(noneCheck).code).toBe(0);
  });
});
