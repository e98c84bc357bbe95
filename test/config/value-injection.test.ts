import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_KEYS, type KnownKey } from '../../src/config/keys.js';
import { runCli } from '../support/cli.js';
import { useTempDir } from '../support/tmp.js';

/**
 * The general rule behind "property values inject flags and unit directives": whatever key, a value
 * holding a control character, or a blank followed by a flag, is refused with the key named, exit 2,
 * nothing written, and no host contacted.
 */

/** A valid value for every known key (optional ones default to empty, which proves nothing). */
const VALID: Record<KnownKey, string> = {
  ...(Object.fromEntries(Object.entries(KNOWN_KEYS).map(([k, spec]) => [k, spec.default])) as Record<KnownKey, string>),
  MASTER_IP: '127.0.0.1',
  ETCD_ENDPOINTS: 'https://127.0.0.1:2379',
  FLANNEL_IFACE: 'eth0',
  DOCKER_REGISTRY_MIRRORS: 'https://mirror.example.com',
  DOCKER_INSECURE_REGISTRIES: '10.0.0.0/8',
  EXTRA_SYSCTLS: 'vm.swappiness=0',
};

const INJECTIONS: Array<[string, (v: string) => string]> = [
  ['a blank and a flag', (v) => `${v} --authorization-mode=AlwaysAllow`],
  ['a flag after a query', (v) => `${v}/?a --authorization-mode=AlwaysAllow`],
  ['a lone carriage return starting a unit directive', (v) => `${v}\rExecStartPre=/bin/sh -c id`],
  ['an escape sequence', (v) => `${v}\x1b[2J`],
  ['a C1 control', (v) => `${v}\u0085x`],
  ['a tab', (v) => `${v}\t--x`],
];

describe('every known key refuses injected values', () => {
  const tmp = useTempDir();
  let server: Server;
  let connections = 0;
  let port = 0;
  beforeAll(async () => {
    server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const inventory = (dir: string, hostProperties: Record<string, string> = {}) => {
    const file = join(dir, 'inventory.yaml');
    const props = Object.entries(hostProperties)
      .map(([k, v]) => `\n      ${k}: ${JSON.stringify(v)}`)
      .join('');
    writeFileSync(
      file,
      `cluster: inj\nssh: { user: root, port: ${port}, agent: false, passwordEnv: KS_NEVER_SET }\nhosts:\n  - name: n1\n    address: 127.0.0.1\n    roles: [etcd, master, worker]${props ? `\n    properties:${props}` : ''}\n`,
    );
    return file;
  };
  const config = (dir: string, values: Record<string, string>) => {
    const file = join(dir, 'config.properties');
    writeFileSync(
      file,
      Object.entries(values)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    return file;
  };

  it("accepts the valid value of every key (so a refusal below is the injection's)", async () => {
    const dir = tmp();
    const run = await runCli(['render', '-i', inventory(dir), '-c', config(dir, VALID), '--out', join(dir, 'out')]);
    expect(run.code, run.stderr).toBe(0);
  });

  const cases = Object.keys(KNOWN_KEYS).flatMap((key) => INJECTIONS.map(([what, inject]) => [key as KnownKey, what, inject] as const));

  it.each(cases)('config.properties %s with %s: exit 2, key named, nothing written, no connection', async (key, _what, inject) => {
    const dir = tmp();
    const cfg = config(dir, { ...VALID, [key]: inject(VALID[key]) });
    const out = join(dir, 'out');
    const render = await runCli(['render', '-i', inventory(dir), '-c', cfg, '--out', out]);
    expect(render.code, render.stderr).toBe(2);
    expect(render.stderr).toMatch(new RegExp(`config\\.properties:\\d+ ${key}: `));
    expect(render.stderr).not.toMatch(/[\r\x1b\x85]/);
    expect(existsSync(out)).toBe(false);
    const plan = await runCli(['plan', '-i', inventory(dir), '-c', cfg]);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(new RegExp(`config\\.properties:\\d+ ${key}: `));
    expect(existsSync(join(dir, '.kubestrap'))).toBe(false);
    expect(connections).toBe(0);
  });

  const hostKeys = Object.entries(KNOWN_KEYS)
    .filter(([, spec]) => spec.scope === 'host')
    .map(([k]) => k as KnownKey);
  const hostCases = hostKeys.flatMap((key) => INJECTIONS.map(([what, inject]) => [key, what, inject] as const));

  it.each(hostCases)('inventory properties.%s with %s: exit 2, key named, no connection', async (key, _what, inject) => {
    const dir = tmp();
    const run = await runCli(['plan', '-i', inventory(dir, { [key]: inject(VALID[key]) }), '-c', config(dir, VALID)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`hosts[0].properties.${key}: `);
    expect(connections).toBe(0);
  });

  it('refuses control characters in keys kubestrap does not know, from either file; tabs pass', async () => {
    const dir = tmp();
    const plan = await runCli(['plan', '-i', inventory(dir, { MY_HOST_FLAGS: 'a\rb' }), '-c', config(dir, { ...VALID, MY_FLAGS: 'x\x1b]0;t\x07', MY_TABS: 'a\tb' })]);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/config\.properties:\d+ MY_FLAGS: the value holds a control character, \\x1b \(escape\)/);
    expect(plan.stderr).toContain('hosts[0].properties.MY_HOST_FLAGS: the value holds a control character, \\x0d (carriage return)');
    expect(plan.stderr).not.toContain('MY_TABS');
    // gen-config.sh mode too.
    const tpl = join(dir, 'tpl');
    config(dir, { X: 'a\rb' });
    mkdirSync(tpl);
    writeFileSync(join(tpl, 'f'), '{{X}}\n');
    const compat = await runCli(['render', '--templates', tpl, '--config', join(dir, 'config.properties'), '--out', join(dir, 'out')]);
    expect(compat.code).toBe(2);
    expect(compat.stderr).toMatch(/config\.properties:1 X: the value holds a control character/);
    expect(connections).toBe(0);
  });
});
