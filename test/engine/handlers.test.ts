import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/engine/change.js';
import { planRestarts as planAll } from '../../src/engine/handlers.js';
import type { FileResource, Resource, ServiceResource } from '../../src/engine/resource.js';
import { diffOf } from './support.js';

const file = (path: string, restarts: string[]): FileResource => ({ kind: 'file', path, content: 'x\n', mode: 0o644, owner: 'root', group: 'root', restarts });
const service = (name: string, over: Partial<ServiceResource> = {}): ServiceResource => ({ kind: 'service', name, enabled: true, running: true, ...over });
/** The restarts part of the plan; `settled` has tests of its own. */
const planRestarts = (...args: Parameters<typeof planAll>) => planAll(...args).restarts;

const RUNNING = 'LoadState=loaded UnitFileState=enabled ActiveState=active';
const STOPPED = 'LoadState=loaded UnitFileState=enabled ActiveState=inactive';
const DISABLED_RUNNING = 'LoadState=loaded UnitFileState=disabled ActiveState=active';

/** Real changes: every file is absent, every service in the state given. */
function changesOf(resources: Resource[], serviceStates: Record<string, string> = {}): Change[] {
  return resources.flatMap((r) => {
    const c = r.kind === 'file' ? diffOf(r, 'absent') : r.kind === 'service' ? diffOf(r, serviceStates[r.name] ?? RUNNING) : undefined;
    return c ? [c] : [];
  });
}

describe('planRestarts', () => {
  it('restarts each service a changed file names once, with every file as a reason, in the phase service order', () => {
    const resources: Resource[] = [
      file('/etc/kubernetes/kubelet-config.yaml', ['kubelet']),
      file('/etc/kubernetes/kube-proxy.kubeconfig', ['kube-proxy', 'kubelet']),
      service('kube-proxy'),
      service('kubelet'),
    ];
    expect(planRestarts(resources, changesOf(resources), [])).toEqual([
      { service: 'kube-proxy', because: ['/etc/kubernetes/kube-proxy.kubeconfig'], managed: true },
      { service: 'kubelet', because: ['/etc/kubernetes/kubelet-config.yaml', '/etc/kubernetes/kube-proxy.kubeconfig'], managed: true },
    ]);
  });

  it('restarts nothing when nothing changed', () => {
    const resources: Resource[] = [file('/etc/a', ['kubelet']), service('kubelet')];
    expect(planRestarts(resources, [], [])).toEqual([]);
  });

  it('try-restarts a service the phase does not manage, or does not keep running, after those it does (by name)', () => {
    const resources: Resource[] = [file('/etc/docker/daemon.json', ['docker', 'containerd']), file('/etc/a', ['kubelet']), service('kubelet', { running: undefined })];
    expect(planRestarts(resources, changesOf(resources), []).map((r) => [r.service, r.managed])).toEqual([
      ['kubelet', false],
      ['containerd', false],
      ['docker', false],
    ]);
  });

  it('does not restart a service the same phase starts or stops anyway', () => {
    const resources: Resource[] = [file('/etc/a', ['kubelet', 'kube-proxy', 'etcd']), service('kubelet'), service('kube-proxy'), service('etcd', { enabled: false, running: false })];
    const changes = changesOf(resources, { kubelet: STOPPED, 'kube-proxy': RUNNING, etcd: RUNNING });
    expect(changes.map((c) => c.summary)).toEqual(['create /etc/a (0644 root:root, 2 bytes)', 'start kubelet', 'disable and stop etcd']);
    expect(planRestarts(resources, changes, []).map((r) => r.service)).toEqual(['kube-proxy']);
  });

  it('does restart a service the phase only enables', () => {
    const resources: Resource[] = [file('/etc/a', ['kubelet']), service('kubelet')];
    const changes = changesOf(resources, { kubelet: DISABLED_RUNNING });
    expect(changes.map((c) => c.summary)).toEqual(['create /etc/a (0644 root:root, 2 bytes)', 'enable kubelet']);
    expect(planRestarts(resources, changes, []).map((r) => r.service)).toEqual(['kubelet']);
  });

  it('reads start/stop from the action, not from a service name that contains the word', () => {
    const resources: Resource[] = [file('/etc/a', ['stop-logger']), service('stop-logger')];
    const changes = changesOf(resources, { 'stop-logger': DISABLED_RUNNING });
    expect(changes[1]?.summary).toBe('enable stop-logger');
    expect(planRestarts(resources, changes, []).map((r) => r.service)).toEqual(['stop-logger']);
  });

  it('restarts pending services the phase knows (as a service or a file input), even without changes', () => {
    const resources: Resource[] = [file('/etc/docker/daemon.json', ['docker']), service('kubelet')];
    expect(planRestarts(resources, [], ['docker', 'etcd', 'kubelet'])).toEqual([
      { service: 'kubelet', because: ['an earlier run changed its inputs but did not finish restarting it'], managed: true },
      { service: 'docker', because: ['an earlier run changed its inputs but did not finish restarting it'], managed: false },
    ]);
  });

  it('adds the pending reason to a file reason, once per service', () => {
    const resources: Resource[] = [file('/etc/a', ['kubelet']), service('kubelet')];
    const [restart] = planRestarts(resources, changesOf(resources), ['kubelet']);
    expect(restart?.because).toEqual(['/etc/a', 'an earlier run changed its inputs but did not finish restarting it']);
  });

  it('uses the summary as the reason for changes that are not files', () => {
    const resources: Resource[] = [service('kubelet')];
    const sysctl = diffOf({ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }, '0\nwritable')!;
    expect(planRestarts(resources, [{ ...sysctl, restarts: ['kubelet'] }], [])[0]?.because).toEqual(['sysctl net.ipv4.ip_forward: 0 → 1']);
  });

  it('settles an owed restart without restarting when the phase starts or stops the service itself', () => {
    const resources: Resource[] = [service('kubelet'), service('etcd', { enabled: false, running: false })];
    const changes = changesOf(resources, { kubelet: STOPPED, etcd: RUNNING });
    expect(planAll(resources, changes, ['kubelet', 'etcd', 'unknown'])).toEqual({ restarts: [], deferred: [], settled: ['kubelet', 'etcd'] });
  });

  it('marks the services a change starts or stops on the change itself', () => {
    const resources: Resource[] = [service('stop-logger'), service('etcd', { enabled: false, running: false })];
    expect(changesOf(resources, { 'stop-logger': STOPPED, etcd: RUNNING }).map((c) => c.startsOrStops)).toEqual(['stop-logger', 'etcd']);
    expect(changesOf([service('kubelet')], { kubelet: DISABLED_RUNNING })[0]?.startsOrStops).toBeUndefined();
  });

  it("leaves even its own service's restart to a later phase that restarts it in its window, and carries an earlier phase's reasons", () => {
    const resources: Resource[] = [file('/etc/containerd/config.toml', ['containerd']), service('containerd')];
    const plan = planAll(resources, changesOf(resources), [], new Map([['containerd', { phase: 'workers', window: true }]]));
    expect([plan.restarts, plan.deferred.map((r) => [r.service, r.managed, r.deferredTo])]).toEqual([[], [['containerd', true, 'workers']]]);
    // A later phase that only runs the service does not take its restart from the phase that runs it too.
    expect(planAll(resources, changesOf(resources), [], new Map([['containerd', { phase: 'other' }]])).deferred).toEqual([]);
    // The window's phase owes it with the earlier phase's reasons (recorded on the host in an apply, or not at all in a plan).
    const fed: Resource[] = [{ kind: 'service', name: 'containerd' }, service('kubelet')];
    const owed = new Map([['containerd', ['/etc/containerd/config.toml']]]);
    expect(planAll(fed, [], ['containerd'], new Map(), owed).restarts).toEqual([{ service: 'containerd', because: ['/etc/containerd/config.toml'], managed: false }]);
    expect(planAll(fed, [], [], new Map(), owed).restarts.map((r) => r.service)).toEqual(['containerd']);
  });

  it('leaves a restart to the later phase that manages the service, and keeps it owed', () => {
    const resources: Resource[] = [file('/etc/kubernetes/pki/apiserver.crt', ['kube-apiserver', 'kubelet'])];
    const plan = planAll(resources, changesOf(resources), [], new Map([['kube-apiserver', { phase: 'control-plane' }]]));
    expect(plan.deferred).toEqual([{ service: 'kube-apiserver', because: ['/etc/kubernetes/pki/apiserver.crt'], managed: false, deferredTo: 'control-plane' }]);
    // Nobody later manages the kubelet here: restarted now, if it runs.
    expect(plan.restarts).toEqual([{ service: 'kubelet', because: ['/etc/kubernetes/pki/apiserver.crt'], managed: false }]);
  });

  it("carries the service's readiness check and rolling order into its restart", () => {
    const ready = { check: 'true', description: 'answers /readyz', timeoutSec: 60 };
    const resources: Resource[] = [file('/etc/kubernetes/apiserver.env', ['kube-apiserver']), service('kube-apiserver', { ready, rolling: true })];
    expect(planRestarts(resources, changesOf(resources), [])).toEqual([{ service: 'kube-apiserver', because: ['/etc/kubernetes/apiserver.env'], managed: true, ready, rolling: true }]);
  });

  it('restarts a service an earlier phase left owed, with its own readiness, when it manages it', () => {
    const ready = { check: 'true', description: 'is healthy', timeoutSec: 30 };
    const resources: Resource[] = [service('etcd', { ready, rolling: true })];
    expect(planRestarts(resources, [], ['etcd'])).toEqual([{ service: 'etcd', because: ['an earlier run changed its inputs but did not finish restarting it'], managed: true, ready, rolling: true }]);
  });
});
