import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';

/** The seed documents live beside the clone, in ../shared/seeds. */
export const SEED_WITH_GEN_CONFIG = resolve(PACKAGE_ROOT, '../shared/seeds/001_c922740745acd8d4.txt');

/**
 * kubernetes-starter's gen-config.sh as the seed's author published it: from `#!/bin/bash` to the
 * line that reports success. It is read from the seed at run time, never copied into the repo.
 */
export function extractGenConfigScript(): string | undefined {
  if (!existsSync(SEED_WITH_GEN_CONFIG)) return undefined;
  const lines = readFileSync(SEED_WITH_GEN_CONFIG, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('#!/bin/bash'));
  const end = lines.findIndex((l, i) => i > start && l.includes('配置生成成功'));
  if (start < 0 || end < 0) throw new Error(`gen-config.sh not found in ${SEED_WITH_GEN_CONFIG}`);
  return `${lines.slice(start, end + 1).join('\n')}\n`;
}
