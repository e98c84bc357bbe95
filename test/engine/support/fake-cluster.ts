import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterSpec } from '../../../src/config/cluster-spec.js';
import type { RemoteHost } from '../../../src/ssh/remote-host.js';
import type { SshTarget } from '../../../src/ssh/target.js';
import { clusterFrom } from '../../support/cluster.js';
import { fakeTools } from '../support.js';
import { FakeHost, type HostModel } from './fake-host.js';
import { FAKE_TOOLS } from './fake-tools.js';

export interface FakeCluster {
  /** The cluster as the runner gets it: the hosts in the order given, every role on each. */
  spec: ClusterSpec;
  /** RunOptions.connect: each host by its inventory name. */
  connect(target: SshTarget): Promise<RemoteHost>;
  host(name: string): FakeHost;
  /** The hosts' events (`<host> <event>`) since the last call, in the order they happened. */
  takeEvents(): string[];
}

/** Fake hosts (see fake-host.ts) under `dir`, in inventory order: the keys' order. */
export function fakeCluster(dir: string, models: Record<string, HostModel>): FakeCluster {
  const names = Object.keys(models);
  const inventory = `cluster: fake\nhosts:\n${names.map((name, i) => `  - { name: ${name}, address: ${addressOf(i)}, roles: [etcd, master, worker] }\n`).join('')}`;
  const spec = clusterFrom(dir, '', inventory);
  const env = fakeTools(join(dir, 'tools'), FAKE_TOOLS);
  const events = join(dir, 'events.log');
  writeFileSync(events, '');
  const hosts = new Map(names.map((name, i) => [name, new FakeHost({ name, address: addressOf(i), dir: join(dir, 'hosts', name), model: models[name]!, env, events })]));
  const host = (name: string) => {
    const h = hosts.get(name);
    if (!h) throw new Error(`no fake host ${name}`);
    return h;
  };
  return {
    spec,
    connect: (target) => host(target.name).connect(),
    host,
    takeEvents: () => {
      const lines = existsSync(events) ? readFileSync(events, 'utf8').split('\n').filter(Boolean) : [];
      writeFileSync(events, '');
      return lines;
    },
  };
}

function addressOf(index: number): string {
  return `10.0.0.${11 + index}`;
}
