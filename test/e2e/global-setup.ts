import fs from 'node:fs';
import type { TestProject } from 'vitest/node';
import { describeBundle, labBundle, labBundleRecord } from '../lab/bundle.js';
import { labDown, labUp } from '../lab/index.js';
import { takeLock, type HeldLock } from '../lab/lock.js';
import { STATE_ROOT } from '../lab/paths.js';
import './support/provided.js';

/** The lab the e2e suite uses; each test file adds and removes its own hosts on it. */
const E2E_LAB = 'e2e';

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

/**
 * Several e2e runs may share a machine (developers, CI). The first holds the `e2e-run` lock for its
 * whole run and owns the lab `e2e`: whatever is left of that lab is from a run that died, so it is
 * taken down first. A run that finds the lock held uses a lab of its own, `e2e-<pid>`.
 */
async function pickLab(): Promise<{ name: string; lock?: HeldLock }> {
  const lock = await takeLock('e2e-run', 0);
  if (!lock) return { name: `e2e-${process.pid}` };
  await downLabsOfDeadRuns();
  return { name: E2E_LAB, lock };
}

/** `e2e-<pid>` labs whose run died without its teardown (a killed vitest). */
async function downLabsOfDeadRuns(): Promise<void> {
  if (!fs.existsSync(STATE_ROOT)) return;
  for (const name of fs.readdirSync(STATE_ROOT)) {
    const pid = /^e2e-(\d+)$/.exec(name)?.[1];
    if (pid && !fs.existsSync(`/proc/${pid}`)) await labDown(name);
  }
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
  const { name, lock } = await pickLab();
  if (!lock) log(`another e2e run holds lab '${E2E_LAB}'; this run uses lab '${name}'`);
  const teardown = async (): Promise<void> => {
    try {
      await labDown(name);
    } finally {
      lock?.release();
    }
  };
  try {
    await labDown(name);
    const lab = await labUp({ name, hosts: 0, log });
    project.provide('lab', lab);
    const bundleDir = await labBundle({ log });
    log(`bundle ${bundleDir}: ${describeBundle(labBundleRecord(bundleDir))}`);
    project.provide('bundleDir', bundleDir);
  } catch (e) {
    await teardown().catch(() => undefined);
    throw e;
  }
  return teardown;
}
