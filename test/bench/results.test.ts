import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { comparisonLines, figureText, readResults, saveResults } from './results.js';

describe('bench results', () => {
  it('prints a figure with the previous one, the change and its target', () => {
    expect(figureText(12, 10, 15)).toBe('   12.0  (was 10.0, +20%)  target < 15: met');
    expect(figureText(0.2, undefined, 0.15)).toBe('   0.20  (new)  target < 0.15: MISSED');
  });

  it('keeps the figures a run did not measure when it saves', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-results-'));
    try {
      const file = join(dir, 'results.json');
      saveResults({ a: 1, b: 2 }, undefined, file);
      saveResults({ b: 3 }, readResults(file), file);
      expect(readResults(file)!.figures).toEqual({ a: 1, b: 3 });
      expect(comparisonLines({ b: 4 }, readResults(file))[1]).toContain('(was 3.00, +33%)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
