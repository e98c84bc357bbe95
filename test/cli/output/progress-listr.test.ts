import { describe, expect, it } from 'vitest';
import { hostCountLine, ListrProgress, ROWS_PER_HOST_UP_TO } from '../../../src/cli/output/progress-listr.js';
import type { HostStatus } from '../../../src/engine/report.js';

describe('the terminal progress view', () => {
  it('counts a large stage by status in one line', () => {
    const counts = new Map<HostStatus, number>([
      ['ok', 400],
      ['changed', 10],
      ['failed', 2],
    ]);
    expect(hostCountLine(1000, counts)).toBe('412/1000 hosts done: 400 ok, 10 changed, 2 failed');
    expect(hostCountLine(1000, new Map())).toBe('0/1000 hosts done');
  });

  it('sees a stage of more hosts than it draws rows for through to its end', async () => {
    const hosts = Array.from({ length: ROWS_PER_HOST_UP_TO + 10 }, (_, i) => `n${i}`);
    const view = new ListrProgress([{ name: 'connect', title: 'connect and read facts' }]);
    view.stageStarted('connect', hosts);
    for (const h of hosts) view.finished('connect', h, h === 'n3' ? 'failed' : 'ok');
    await expect(view.close()).resolves.toBeUndefined();
  });
});
