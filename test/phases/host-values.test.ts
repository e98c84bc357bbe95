import { describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { hostValues } from '../../src/phases/index.js';
import { osPhase } from '../../src/phases/os-prep.js';
import type { Phase } from '../../src/phases/phase.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

describe('hostValues', () => {
  const tmp = useTempDir();
  const fromHost = (value: string): Phase => ({ ...osPhase, hostValues: () => ({ CGROUP_DRIVER: value }) });

  it("passes what phases derive from a host's facts", () => {
    const host = clusterFrom(tmp(), '').hosts[0]!;
    expect(hostValues(host, undefined, [fromHost('systemd')])).toEqual({ CGROUP_DRIVER: 'systemd' });
  });

  it("refuses a derived value with a control character: a host's output cannot add a unit directive", () => {
    const host = clusterFrom(tmp(), '').hosts[0]!;
    const run = () => hostValues(host, undefined, [fromHost('systemd\rExecStartPre=/bin/sh -c id')]);
    expect(run).toThrow(HostError);
    expect(run).toThrow('CGROUP_DRIVER, derived from what the host reports, is refused: the value holds a control character, \\x0d (carriage return)');
  });
});
