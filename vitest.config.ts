import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/unit-global-setup.ts'],
          setupFiles: ['test/support/strict-reports.ts'],
          exclude: ['test/e2e/**', 'node_modules/**'],
          // One file per core, where vitest's default keeps a core for itself: unit tests spend much
          // of their time waiting on the processes they start (sh, sftp-server, zstd), and on a 2-core
          // machine the default of one file at a time doubles the run (170 s against 77 s).
          maxWorkers: availableParallelism(),
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          setupFiles: ['test/support/strict-reports.ts'],
          // Test files share one lab and boot their own hosts on it: one file at a time keeps a
          // 2-core CI machine predictable.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
