import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUnitState, unitStatesPrelude, unitStateProbe } from '../../../src/engine/kinds/unit-state.js';
import { useTempDir } from '../../support/tmp.js';

/**
 * A `systemctl` that answers `show` as systemd does (one block per unit, blank lines between, `sshd`
 * an alias of ssh.service) and logs each call, so the test sees how often the probe asks.
 */
const FAKE_SYSTEMCTL = `#!/bin/sh
echo "$*" >> "$CALLS"
case " $* " in *" Id "*) with_id=1 ;; *) with_id=0 ;; esac
first=1
for u in "$@"; do
  case "$u" in show|-p|--|Id|LoadState|UnitFileState|ActiveState) continue ;; esac
  [ $first = 1 ] || echo; first=0
  case "$u" in
    kubelet) id=kubelet.service; state='LoadState=loaded\nActiveState=active\nUnitFileState=enabled' ;;
    sshd|ssh) id=ssh.service; state='LoadState=loaded\nActiveState=active\nUnitFileState=enabled' ;;
    *) id="$u.service"; state='LoadState=not-found\nActiveState=inactive\nUnitFileState=' ;;
  esac
  [ $with_id = 1 ] && echo "Id=$id"
  printf "$state\n"
done
`;

describe('unit states in a probe', () => {
  const tmp = useTempDir();

  function run(prelude: string, units: string[]) {
    const dir = tmp();
    writeFileSync(join(dir, 'systemctl'), FAKE_SYSTEMCTL);
    chmodSync(join(dir, 'systemctl'), 0o755);
    const calls = join(dir, 'calls');
    writeFileSync(calls, '');
    const script = [prelude, ...units.map((u) => unitStateProbe(u))].join('\n');
    const out = execFileSync('sh', ['-c', script], { env: { PATH: `${dir}:/usr/bin:/bin`, CALLS: calls }, encoding: 'utf8' });
    return { lines: out.trim().split('\n'), calls: readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean) };
  }

  it("asks systemd once for every declared unit and reads each unit's state from that answer", () => {
    const { lines, calls } = run(unitStatesPrelude(['kubelet', 'flanneld', 'kubelet']), ['kubelet', 'flanneld']);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toContain('kubelet flanneld');
    expect(parseUnitState(lines[0]!)).toMatchObject({ loaded: true, enabled: true, active: true });
    expect(parseUnitState(lines[1]!)).toMatchObject({ loaded: false, active: false });
  });

  it('finds a unit whose block lists its Id anywhere among its properties, and never one whose name only begins the same', () => {
    const states = ['LoadState=loaded\nId=a.service\nActiveState=active', 'Id=ab.service\nLoadState=loaded\nActiveState=inactive', 'LoadState=loaded\nActiveState=failed\nId=b.service'];
    const script = [unitStatesPrelude([]), `ks_unit_states='${states.join('\n\n')}'`, ...['a', 'b', 'ab'].map((u) => unitStateProbe(u))].join('\n');
    // No PATH: builtins only, no awk, tr or systemctl.
    const out = execFileSync('/bin/sh', ['-c', script], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(['LoadState=loaded ActiveState=active', 'LoadState=loaded ActiveState=failed', 'LoadState=loaded ActiveState=inactive']);
  });

  it('asks systemd directly for a unit the answer does not hold under its name (an alias, or none declared)', () => {
    const { lines, calls } = run(unitStatesPrelude(['sshd']), ['sshd', 'kubelet']);
    expect(calls).toHaveLength(3);
    expect(lines.map((l) => parseUnitState(l).active)).toEqual([true, true]);
    expect(run(unitStatesPrelude([]), ['kubelet']).lines.map((l) => parseUnitState(l).loaded)).toEqual([true]);
  });
});
