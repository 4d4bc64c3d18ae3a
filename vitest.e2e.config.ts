import { defineConfig } from 'vitest/config';

/**
 * Browser tests (test/e2e: a real server driven through Debian's Chromium) and the web app's
 * pure-logic tests (web/src/**\/*.test.ts). Run with `npm run test:e2e`; the first builds the
 * web app when dist/web is missing or older than web/.
 */
export default defineConfig({
  test: {
    include: ['web/src/**/*.test.ts', 'test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/e2e/e2e-global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    env: { TZ: 'UTC' },
    pool: 'forks',
    // One browser at a time: the machines running this have two cores.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
