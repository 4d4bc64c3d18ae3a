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
    // Two files (two browsers and their servers) at a time: most of a browser test is waiting
    // on the page, the server or the fake LLM, and the two cores fill that time.
    fileParallelism: true,
    maxWorkers: 2,
    // A poll's bound only turns a hang into a failure, never a speed limit (Vitest's default,
    // 1 s, failed under two busy cores).
    expect: { poll: { timeout: 20_000 } },
    testTimeout: 90_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
