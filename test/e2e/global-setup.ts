import type { TestProject } from 'vitest/node';
import { cachedBundle } from '../lab/bundle.js';
import { labDown, labUp } from '../lab/index.js';
import './support/provided.js';

/** The one lab the e2e suite shares; each test file adds and removes its own hosts on it. */
export const E2E_LAB = 'e2e';

/**
 * Why the lab cannot run here, or undefined if it can. The e2e suite needs Linux and root (bridges,
 * mounts, containers); elsewhere it is skipped with one line, except in CI, where a machine that
 * cannot run it is a broken CI machine and must fail the run instead of passing green with no test.
 */
function unsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `e2e needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'e2e needs root (the lab creates bridges, mounts and containers)';
  return undefined;
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const reason = unsupportedReason();
  if (reason) {
    if (process.env.CI === 'true') throw new Error(`${reason}; CI must run the e2e suite, so this is a failure`);
    console.warn(`[e2e] skipped: ${reason}`);
    project.provide('lab', null);
    project.provide('bundleDir', null);
    return undefined;
  }
  const log = (msg: string): void => console.log(`[e2e] ${msg}`);
  // A previous run that crashed (or was killed) may have left the lab behind: start from nothing.
  await labDown(E2E_LAB);
  try {
    const lab = await labUp({ name: E2E_LAB, hosts: 0, log });
    const bundleDir = await cachedBundle({ log });
    project.provide('lab', lab);
    project.provide('bundleDir', bundleDir);
  } catch (e) {
    await labDown(E2E_LAB).catch(() => undefined);
    throw e;
  }
  return async () => {
    await labDown(E2E_LAB);
  };
}
